// The architecture of a CornerNet: HourglassNet backbone + CornerHead, with the
// reference's (MMDetection's) constructor arguments. Field names are the
// camelCase forms of the reference's keyword arguments; JavaScript builds this
// from lib/configs (which validates first), validate() guards the engine anyway.
#pragma once
#include <string>
#include <vector>

namespace cn {

struct CornerNetConfig {
  int num_stacks = 2;
  int downsample_times = 5;
  std::vector<int> stage_channels{256, 256, 384, 384, 384, 512};
  std::vector<int> stage_blocks{2, 2, 2, 2, 2, 4};
  int feat_channel = 256;
  int num_classes = 80;
  int corner_emb_channels = 1;
  // BiCornerPool's inner width and the prediction branches' hidden width: fixed
  // (128, 256) in the reference, independent of feat_channel; configurable here
  // so small models can shrink the head too.
  int pool_feat_channels = 128;
  int head_feat_channels = 256;
  float bn_eps = 1e-5f;
  float bn_momentum = 0.1f;

  // Throws cn::Error naming the first bad field (camelCase, as JavaScript spells it).
  void validate() const;
};

}  // namespace cn
