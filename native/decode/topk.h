// The k best corners of a [C, H, W] logit map after sigmoid and local-maximum
// suppression, as get_topk_from_heatmap ranks them (torch.topk over the
// flattened map). Equal scores are ordered by lower flat index; when fewer than k
// positions survive, the rest are suppressed (zero-score) positions in index order.
#pragma once
#include <string>
#include <vector>

#include "../engine/thread_pool.h"
#include "local_max.h"

namespace cn::decode {

// Throws cn::Error naming `what` when the map holds a NaN.
std::vector<Corner> top_corners(const float* logits, int C, int H, int W, int kernel, int k, ThreadPool* pool,
                                const std::string& what);

}  // namespace cn::decode
