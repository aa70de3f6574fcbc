{
  "targets": [
    {
      # Not a second build: node-gyp (npm's implicit rebuild, node-gyp-build's
      # fallback, prebuildify) runs the CMake build and copies its outputs to
      # build/Release, so every path produces the same addon.
      "target_name": "cornernet",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_build",
          "inputs": ["CMakeLists.txt"],
          "outputs": ["<(PRODUCT_DIR)/cornernet.node"],
          "action": ["node", "scripts/build-native.js", "--dest", "<(PRODUCT_DIR)"]
        }
      ]
    }
  ]
}
