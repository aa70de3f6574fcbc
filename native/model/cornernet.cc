#include "cornernet.h"

namespace cn {

namespace {
int64_t stem_output_size(int64_t in) { return conv_out_size(conv_out_size(in, 7, 2, 3), 3, 2, 1); }

const CornerNetConfig& validated(const CornerNetConfig& c) {
  c.validate();
  return c;
}
}  // namespace

CornerNet::CornerNet(const CornerNetConfig& cfg)
    : cfg_(validated(cfg)), backbone_(store_, "backbone.", cfg_), head_(store_, "bbox_head.", cfg_) {}

std::vector<std::array<Shape, kNumHeadOutputs>> CornerNet::output_shapes(const Shape& in) const {
  if (in.size() != 4) fail("input must have 4 dimensions [N, 3, H, W], got shape ", shape_str(in));
  if (in[0] < 1) fail("input batch size must be at least 1, got shape ", shape_str(in));
  if (in[1] != 3) fail("input must have 3 channels (RGB) in dimension 1, got shape ", shape_str(in));
  if (in[2] < 1 || in[3] < 1) fail("input height and width must be positive, got shape ", shape_str(in));
  // The stem (7x7 stride 2, then 3x3 stride 2) rounds up, so 511 and 512 both give
  // 128; every hourglass level then halves exactly, or its upsample would not
  // land on the skip branch's size.
  const int64_t h = stem_output_size(in[2]), w = stem_output_size(in[3]);
  const int64_t d = int64_t{1} << cfg_.downsample_times;
  if (h % d || w % d)
    fail("input size ", in[2], "x", in[3], " gives a ", h, "x", w, " feature map after the stem, which must be "
         "divisible by ", d, " (2^downsampleTimes); use a height and width of ", 4 * d, "k or ", 4 * d,
         "k-1 (the reference trains at 511x511)");
  const int64_t n = in[0];
  const int64_t ch[kNumHeadOutputs] = {cfg_.num_classes, cfg_.num_classes, cfg_.corner_emb_channels,
                                       cfg_.corner_emb_channels, 2, 2};
  std::vector<std::array<Shape, kNumHeadOutputs>> out(cfg_.num_stacks);
  for (auto& level : out)
    for (int i = 0; i < kNumHeadOutputs; ++i) level[i] = {n, ch[i], h, w};
  return out;
}

std::vector<HeadTensors> CornerNet::forward(Backend& be, const Tensor& x, bool train, bool record) {
  const Shape head = output_shapes(x.shape())[0][0];
  const int64_t ih = head[2] >> cfg_.downsample_times, iw = head[3] >> cfg_.downsample_times;
  // As PyTorch refuses: batch statistics of a single value give no variance
  // (and an infinite unbiased running variance).
  if (train && head[0] * ih * iw < 2)
    fail("train mode needs more than one value per channel in every batch norm, but the innermost hourglass map is ",
         ih, "x", iw, " with a batch of ", head[0], "; use a larger input or batch");
  CN_CHECK(store_.materialized(), "internal: model weights are not allocated");
  release();
  Pass p{be, store_, train, record};
  std::vector<HeadTensors> out;
  try {
    std::vector<Tensor> feats = backbone_.forward(p, x);
    for (int l = 0; l < cfg_.num_stacks; ++l) {
      out.push_back(head_.forward(p, l, feats[l]));
      feats[l] = Tensor{};  // held by the head's first convs when recording
    }
  } catch (...) {
    release();
    throw;
  }
  recorded_ = record;
  recorded_train_ = train;
  return out;
}

void CornerNet::backward(Backend& be, const std::vector<HeadTensors>& grads) {
  if (!recorded_)
    fail("backward needs a forward pass run with gradients recorded (forward(input, {train: true}) or "
         "{grad: true}) since the last backward");
  CN_CHECK(grads.size() == static_cast<size_t>(cfg_.num_stacks), "internal: expected ", cfg_.num_stacks,
           " levels of gradients, got ", grads.size());
  recorded_ = false;
  // BN's backward follows the mode its forward ran in (each layer kept it).
  Pass p{be, store_, recorded_train_, false};
  try {
    std::vector<Tensor> g_feats(cfg_.num_stacks);
    for (int l = cfg_.num_stacks - 1; l >= 0; --l) g_feats[l] = head_.backward(p, l, grads[l]);
    backbone_.backward(p, g_feats);
  } catch (...) {
    release();
    throw;
  }
}

void CornerNet::release() {
  for (int l = 0; l < cfg_.num_stacks; ++l) head_.release(l);
  backbone_.release();
  recorded_ = false;
}

std::vector<Op> CornerNet::inference_ops() {
  // Residual and merge additions run in place through axpy; test and detect
  // decode the last stack where the model ran (Model.detect).
  return {Op::Conv2dForward, Op::BatchNormForwardEval, Op::ReluForward, Op::Upsample2xForward,
          Op::CornerPoolForward, Op::Axpy, Op::Decode};
}

}  // namespace cn
