#include "config.h"

#include "../engine/error.h"

namespace cn {

namespace {
// Generous bounds: they catch typos (a missing digit, a negative count) long
// before an allocation could fail, without ruling out real architectures.
constexpr int kMaxChannels = 8192;
constexpr int kMaxBlocks = 64;

void check_range(const char* field, int v, int lo, int hi) {
  if (v < lo || v > hi) fail("model config: '", field, "' must be an integer in [", lo, ", ", hi, "], got ", v);
}
}  // namespace

void CornerNetConfig::validate() const {
  check_range("numStacks", num_stacks, 1, 16);
  check_range("downsampleTimes", downsample_times, 1, 10);
  if (static_cast<int>(stage_channels.size()) <= downsample_times)
    fail("model config: 'stageChannels' needs more than downsampleTimes (", downsample_times, ") entries, got ",
         stage_channels.size());
  if (stage_blocks.size() != stage_channels.size())
    fail("model config: 'stageBlocks' must have as many entries as 'stageChannels' (", stage_channels.size(),
         "), got ", stage_blocks.size());
  for (size_t i = 0; i < stage_channels.size(); ++i) {
    const std::string f = "stageChannels[" + std::to_string(i) + "]";
    check_range(f.c_str(), stage_channels[i], 1, kMaxChannels);
  }
  // The stem's first conv has stageChannels[0] / 2 outputs.
  if (stage_channels[0] < 2) fail("model config: 'stageChannels[0]' must be at least 2 (the stem halves it), got ", stage_channels[0]);
  for (size_t i = 0; i < stage_blocks.size(); ++i) {
    const std::string f = "stageBlocks[" + std::to_string(i) + "]";
    check_range(f.c_str(), stage_blocks[i], 1, kMaxBlocks);
  }
  check_range("featChannel", feat_channel, 1, kMaxChannels);
  check_range("numClasses", num_classes, 1, 100000);
  check_range("cornerEmbChannels", corner_emb_channels, 1, 64);
  check_range("poolFeatChannels", pool_feat_channels, 1, kMaxChannels);
  check_range("headFeatChannels", head_feat_channels, 1, kMaxChannels);
  if (!(bn_eps > 0 && bn_eps < 1)) fail("model config: 'bnEps' must be in (0, 1), got ", bn_eps);
  if (!(bn_momentum >= 0 && bn_momentum <= 1)) fail("model config: 'bnMomentum' must be in [0, 1], got ", bn_momentum);
}

}  // namespace cn
