#include "image_transform.h"

#include <cfloat>
#include <cmath>
#include <tuple>
#include <vector>

#include "../engine/error.h"

namespace cn::data {

void rgb_to_hsv(float r, float g, float b, float& h, float& s, float& v) {
  v = std::max(r, std::max(g, b));
  float vmin = std::min(r, std::min(g, b));
  float diff = v - vmin;
  s = diff / (std::fabs(v) + FLT_EPSILON);
  diff = 60.f / (diff + FLT_EPSILON);
  if (v == r)
    h = (g - b) * diff;
  else if (v == g)
    h = (b - r) * diff + 120.f;
  else
    h = (r - g) * diff + 240.f;
  if (h < 0) h += 360.f;
}

void hsv_to_rgb(float h, float s, float v, float& r, float& g, float& b) {
  if (s == 0) {
    r = g = b = v;
    return;
  }
  // Which of tab[] feeds b, g, r in each 60-degree sector (OpenCV's table).
  static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1}, {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
  h *= 6.f / 360.f;
  // h is in [0, 6] after the caller's wrap; fmod only for the unusual rest (it is slow).
  if (h >= 6.f)
    h = h < 12.f ? h - 6.f : std::fmod(h, 6.f);
  else if (h < 0.f)
    h = h >= -6.f ? h + 6.f : std::fmod(h, 6.f) + 6.f;
  int sector = static_cast<int>(std::floor(h));
  h -= sector;
  if (static_cast<unsigned>(sector) >= 6u) {
    sector = 0;
    h = 0.f;
  }
  float tab[4] = {v, v * (1.f - s), v * (1.f - s * h), v * (1.f - s * (1.f - h))};
  b = tab[sector_data[sector][0]];
  g = tab[sector_data[sector][1]];
  r = tab[sector_data[sector][2]];
}

std::string too_many_pixels(int64_t h, int64_t w) {
  if (h * w <= kMaxPixels) return "";
  return std::to_string(w) + "x" + std::to_string(h) + " (" + std::to_string(h * w) +
         " pixels), more than the limit of " + std::to_string(kMaxPixels) + " (8192x8192)";
}

void check_spec(const TransformSpec& s) {
  CN_CHECK(s.src_h > 0 && s.src_w > 0, "image must not be empty, got ", s.src_h, "x", s.src_w);
  for (auto [name, h, w] : {std::tuple<const char*, int64_t, int64_t>{"image", s.src_h, s.src_w},
                            {"canvas", s.canvas_h, s.canvas_w}, {"output size", s.out_h, s.out_w}}) {
    const std::string why = too_many_pixels(h, w);
    CN_CHECK(why.empty(), name, " is too large: ", why);
  }
  CN_CHECK(s.win_w >= 0 && s.win_h >= 0, "window size must not be negative");
  CN_CHECK(s.win_x >= 0 && s.win_y >= 0 && s.win_x + s.win_w <= s.src_w && s.win_y + s.win_h <= s.src_h,
           "window [x ", s.win_x, ", y ", s.win_y, ", w ", s.win_w, ", h ", s.win_h, "] is not inside the ", s.src_w, "x",
           s.src_h, " image");
  CN_CHECK(s.canvas_h > 0 && s.canvas_w > 0, "canvas must not be empty");
  CN_CHECK(s.dst_x >= 0 && s.dst_y >= 0 && s.dst_x + s.win_w <= s.canvas_w && s.dst_y + s.win_h <= s.canvas_h,
           "window placed at (", s.dst_x, ", ", s.dst_y, ") does not fit the ", s.canvas_w, "x", s.canvas_h, " canvas");
  CN_CHECK(s.out_h > 0 && s.out_w > 0, "output size must be positive");
  for (int c = 0; c < 3; ++c) CN_CHECK(s.std[c] != 0.f, "std[", c, "] must not be 0");
}

namespace {

inline void photometric(const Photometric& p, const float* in, float* out) {
  float r = in[0] + p.brightness, g = in[1] + p.brightness, b = in[2] + p.brightness;
  if (p.contrast_first) r *= p.contrast, g *= p.contrast, b *= p.contrast;
  float h, s, v;
  rgb_to_hsv(r, g, b, h, s, v);
  s *= p.saturation;
  h += p.hue;
  if (h > 360.f) h -= 360.f;
  if (h < 0.f) h += 360.f;
  hsv_to_rgb(h, s, v, r, g, b);
  if (!p.contrast_first) r *= p.contrast, g *= p.contrast, b *= p.contrast;
  const float rgb[3] = {r, g, b};
  out[0] = rgb[p.channel_order[0]];
  out[1] = rgb[p.channel_order[1]];
  out[2] = rgb[p.channel_order[2]];
}

// OpenCV INTER_LINEAR source coordinate: centres aligned, clamped at the edges.
struct Tap {
  int i0, i1;
  float w0, w1;
};
std::vector<Tap> taps(int out_n, int in_n) {
  std::vector<Tap> t(out_n);
  double scale = static_cast<double>(in_n) / out_n;
  for (int d = 0; d < out_n; ++d) {
    double f = (d + 0.5) * scale - 0.5;
    int i = static_cast<int>(std::floor(f));
    float a = static_cast<float>(f - i);
    if (i < 0) i = 0, a = 0.f;
    if (i >= in_n - 1) i = in_n - 1, a = 0.f;
    t[d] = {i, std::min(i + 1, in_n - 1), 1.f - a, a};
  }
  return t;
}

}  // namespace

void transform_image(const float* src, const TransformSpec& s, float* out) {
  check_spec(s);
  const int ch = s.canvas_h, cw = s.canvas_w;
  std::vector<float> canvas(static_cast<size_t>(ch) * cw * 3);
  for (size_t i = 0; i < canvas.size(); i += 3) {
    canvas[i] = s.mean[0];
    canvas[i + 1] = s.mean[1];
    canvas[i + 2] = s.mean[2];
  }
  for (int y = 0; y < s.win_h; ++y) {
    const float* in = src + (static_cast<size_t>(s.win_y + y) * s.src_w + s.win_x) * 3;
    float* row = canvas.data() + (static_cast<size_t>(s.dst_y + y) * cw + s.dst_x) * 3;
    if (s.photo.enabled)
      for (int x = 0; x < s.win_w; ++x) photometric(s.photo, in + 3 * x, row + 3 * x);
    else
      std::copy(in, in + 3 * s.win_w, row);
  }
  const std::vector<Tap> tx = taps(s.out_w, cw), ty = taps(s.out_h, ch);
  const size_t plane = static_cast<size_t>(s.out_h) * s.out_w;
  const float inv[3] = {1.f / s.std[0], 1.f / s.std[1], 1.f / s.std[2]};
  for (int y = 0; y < s.out_h; ++y) {
    const Tap& t = ty[y];
    const float* r0 = canvas.data() + static_cast<size_t>(t.i0) * cw * 3;
    const float* r1 = canvas.data() + static_cast<size_t>(t.i1) * cw * 3;
    for (int x = 0; x < s.out_w; ++x) {
      const Tap& u = tx[x];
      const int ox = s.flip ? s.out_w - 1 - x : x;
      for (int c = 0; c < 3; ++c) {
        float top = r0[u.i0 * 3 + c] * u.w0 + r0[u.i1 * 3 + c] * u.w1;
        float bot = r1[u.i0 * 3 + c] * u.w0 + r1[u.i1 * 3 + c] * u.w1;
        out[c * plane + static_cast<size_t>(y) * s.out_w + ox] = (top * t.w0 + bot * t.w1 - s.mean[c]) * inv[c];
      }
    }
  }
}

}  // namespace cn::data
