// CornerNet decoding on the CPU: from the last stack's head outputs to scored,
// labelled boxes in original-image coordinates, following MMDetection v2's
// CornerHead test path (decode_heatmap -> keep score > -0.1 -> class-aware soft-NMS
// -> best max_per_img) and CornerNet.aug_test for the flip test.
//
// Pointers refer to one image's maps (NCHW with N = 1), float32, contiguous.
#pragma once
#include "../engine/thread_pool.h"
#include "decode_types.h"

namespace cn::decode {

// One view: sigmoid, local maxima, top-k corners, pairing, best num_dets pairs
// with score > -0.1, in the network input's scale (not divided by scale_factor). No NMS.
Detections decode_view(const HeadMaps& maps, const ImageMeta& meta, const DecodeOptions& opt, ThreadPool* pool);

// Divides every coordinate by the test-time resize factor.
void rescale_boxes(Detections& d, double scale_factor);

// Mirrors boxes decoded from the horizontally flipped input back onto the image:
// x' = img_w - x with x1/x2 swapped (the unpadded width, as the reference does).
void unflip_boxes(Detections& d, double img_w);

// The whole test path for one image; `flipped` (may be null) holds the outputs of
// the mirrored input, decoded separately and merged before one soft-NMS.
DecodeResult decode_image(const HeadMaps& maps, const HeadMaps* flipped, const ImageMeta& meta,
                          const DecodeOptions& opt, ThreadPool* pool);

}  // namespace cn::decode
