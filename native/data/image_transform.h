// The pixel work of the data pipeline (MMDetection CornerNet's train and test
// transforms), one image at a time, on the calling thread. The random choices
// (crop window, colour jitter, flip) are made by the caller (lib/data/), which
// also moves the boxes; this only moves pixels.
//
// Order, as in the reference pipeline:
//   PhotoMetricDistortion -> RandomCenterCropPad -> Resize (bilinear) -> RandomFlip -> Normalize
// Photometric distortion is per pixel, so it is applied to the cropped window
// only; padding gets the mean pixel afterwards, as in the reference.
#pragma once
#include <cstdint>
#include <string>

namespace cn::data {

// The most pixels the input image, the canvas or the output may have. The op
// holds the canvas and the output as float buffers (12 bytes a pixel each)
// beside the input, so 8192x8192 already takes 2.4 GB; beyond that allocation
// fails with a bare std::bad_alloc, or succeeds and starves the machine.
// lib/data/pixel_ops.ts states the same limit for decoding image files.
constexpr int64_t kMaxPixels = int64_t{1} << 26;

// "" when an h x w plane is within kMaxPixels, else why not, e.g.
// "12000x12000 (144000000 pixels), more than the limit of 67108864 (8192x8192)".
std::string too_many_pixels(int64_t h, int64_t w);

struct Photometric {
  bool enabled = false;
  float brightness = 0.f;     // added
  float contrast = 1.f;       // multiplied
  bool contrast_first = true; // contrast before (true) or after (false) the HSV step
  float saturation = 1.f;     // multiplies S
  float hue = 0.f;            // added to H (degrees), wrapped to [0, 360)
  int channel_order[3] = {0, 1, 2};  // output channel c takes input channel channel_order[c]
};

struct TransformSpec {
  int src_h = 0, src_w = 0;            // input: HWC float RGB
  int win_x = 0, win_y = 0, win_w = 0, win_h = 0;  // window of the input that is kept
  int dst_x = 0, dst_y = 0;            // where the window lands in the canvas
  int canvas_h = 0, canvas_w = 0;      // canvas filled with `mean`
  int out_h = 0, out_w = 0;            // canvas resized (bilinear, OpenCV's INTER_LINEAR) to this
  bool flip = false;                   // horizontal, after the resize
  float mean[3] = {0, 0, 0};
  float std[3] = {1, 1, 1};
  Photometric photo;
};

// Checks the spec against itself and kMaxPixels; throws cn::Error naming the bad field.
void check_spec(const TransformSpec& s);

// out: 3 x out_h x out_w, normalised ((v - mean) / std), RGB planes.
void transform_image(const float* src, const TransformSpec& s, float* out);

// OpenCV's float RGB<->HSV (H in degrees [0, 360), S in [0, 1] for ordinary input,
// V = max(R, G, B)); values are not clipped, as in mmcv's bgr2hsv/hsv2bgr on float32.
void rgb_to_hsv(float r, float g, float b, float& h, float& s, float& v);
void hsv_to_rgb(float h, float s, float v, float& r, float& g, float& b);

}  // namespace cn::data
