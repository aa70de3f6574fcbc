// Backend::decode on the CPU: the host decoder (native/decode) on the head
// outputs in place. The reference every other backend's decode is tested against.
#include "../decode/decode.h"
#include "cpu_backend.h"

namespace cn {

namespace {
// Image n's maps of one view, as pointers into the [N,...] tensors.
decode::HeadMaps image_maps(const DecodeHeads& h, int64_t n) {
  const Shape& s = h.heat[0].shape();
  const int64_t hw = s[2] * s[3];
  decode::HeadMaps m;
  m.classes = static_cast<int>(s[1]);
  m.height = static_cast<int>(s[2]);
  m.width = static_cast<int>(s[3]);
  m.tl = {h.heat[0].data() + n * s[1] * hw, h.emb[0].data() + n * hw, h.off[0].data() + n * 2 * hw};
  m.br = {h.heat[1].data() + n * s[1] * hw, h.emb[1].data() + n * hw, h.off[1].data() + n * 2 * hw};
  m.tl_name = h.heat_name[0];
  m.br_name = h.heat_name[1];
  return m;
}
}  // namespace

std::vector<decode::DecodeResult> CpuBackend::run_decode(const DecodeHeads& view, const DecodeHeads* flipped,
                                                     const std::vector<decode::ImageMeta>& metas,
                                                     const decode::DecodeOptions& opt, bool want_pre_nms) {
  const int64_t n = view.heat[0].size(0);
  std::vector<decode::DecodeResult> out;
  for (int64_t i = 0; i < n; ++i) {
    decode::HeadMaps v = image_maps(view, i), f;
    if (flipped) f = image_maps(*flipped, i);
    out.push_back(decode::decode_image(v, flipped ? &f : nullptr, metas[static_cast<size_t>(i)], opt, &pool_));
    if (!want_pre_nms) out.back().pre_nms = decode::Detections();
  }
  return out;
}

}  // namespace cn
