// Data-pipeline pixel ops (native/data/): run off the event loop through the
// async form, many images in flight at once. The random choices are made in
// lib/data/ and passed in, so one seed gives one result on any number of workers.
#include <string>
#include <tuple>

#include "../data/image_transform.h"
#include "ops.h"

namespace cn {

namespace {
// Lexicographic order of the 6 permutations of (0, 1, 2), indexed by `channelOrder`.
const int kPermutations[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};

void read3(OpCall& c, const char* name, float* dst, float def) {
  Tensor t = c.optional_tensor(name, 1);
  if (!t.defined()) {
    dst[0] = dst[1] = dst[2] = def;
    return;
  }
  if (t.numel() != 3) c.bad_arg(name, "must hold 3 values (R, G, B), got " + shape_str(t.shape()));
  for (int i = 0; i < 3; ++i) dst[i] = t.data()[i];
}
}  // namespace

void register_data_ops(OpRegistry& r) {
  r.add("imageTransform", [](OpCall& c) -> Kernel {
    Tensor img = c.tensor("image", 3);
    if (img.shape()[2] != 3) c.bad_arg("image", "must be H x W x 3 (RGB), got " + shape_str(img.shape()));
    data::TransformSpec s;
    s.src_h = static_cast<int>(img.shape()[0]);
    s.src_w = static_cast<int>(img.shape()[1]);
    s.win_x = c.integer("windowX", 0, 0, 1 << 20);
    s.win_y = c.integer("windowY", 0, 0, 1 << 20);
    s.win_w = c.integer("windowWidth", s.src_w, 0, 1 << 20);
    s.win_h = c.integer("windowHeight", s.src_h, 0, 1 << 20);
    s.dst_x = c.integer("pasteX", 0, 0, 1 << 20);
    s.dst_y = c.integer("pasteY", 0, 0, 1 << 20);
    auto canvas = c.int_pair("canvas", {s.win_h, s.win_w}, 1, 1 << 15);
    s.canvas_h = canvas.first;
    s.canvas_w = canvas.second;
    auto size = c.int_pair("size", canvas, 1, 1 << 15);
    s.out_h = size.first;
    s.out_w = size.second;
    s.flip = c.boolean("flip", false);
    read3(c, "mean", s.mean, 0.f);
    read3(c, "std", s.std, 1.f);
    s.photo.enabled = c.boolean("photometric", false);
    s.photo.brightness = static_cast<float>(c.number("brightness", 0));
    s.photo.contrast = static_cast<float>(c.number("contrast", 1));
    s.photo.contrast_first = c.boolean("contrastFirst", true);
    s.photo.saturation = static_cast<float>(c.number("saturation", 1));
    s.photo.hue = static_cast<float>(c.number("hue", 0));
    int perm = c.integer("channelOrder", 0, 0, 5);
    for (int i = 0; i < 3; ++i) s.photo.channel_order[i] = kPermutations[perm][i];
    // Before anything is allocated (the canvas and the output are as large again as the image).
    for (auto [name, h, w] : {std::tuple<const char*, int, int>{"image", s.src_h, s.src_w},
                              {"canvas", s.canvas_h, s.canvas_w}, {"size", s.out_h, s.out_w}}) {
      const std::string why = data::too_many_pixels(h, w);
      if (!why.empty()) c.bad_arg(name, "is too large: " + why);
    }
    try {
      data::check_spec(s);
    } catch (const Error& e) {
      c.bad_arg("window", e.what());
    }
    c.output("y", {3, s.out_h, s.out_w});
    return [s](Backend&, TensorMap& in, TensorMap& out) { data::transform_image(in["image"].data(), s, out["y"].data()); };
  });
}

}  // namespace cn
