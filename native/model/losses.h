// CornerNet's training losses on the CPU, each with its gradient, following the
// reference (MMDetection v2 CornerHead.loss_single with GaussianFocalLoss,
// AssociativeEmbeddingLoss and SmoothL1Loss; reductions divide by
// avg_factor + float32 eps as current MMDetection's weight_reduce_loss does).
// Sums are accumulated in double over fixed-size chunks, so results do not depend
// on the number of threads.
//
// Every function writes grad_scale * d(loss)/d(input) into the gradient tensors it
// is given (overwriting them); an undefined gradient tensor is skipped.
#pragma once
#include <vector>

#include "../engine/tensor.h"
#include "../engine/thread_pool.h"
#include "targets.h"

namespace cn {


// Gaussian focal loss of one heatmap: p = sigmoid(logits) (no clamping),
//   element = -log(p + 1e-12) (1-p)^2                  where gt == 1
//           = -log(1 - p + 1e-12) p^2 (1-gt)^4          elsewhere
//   loss = sum(element) / (max(1, count(gt == 1)) + eps).
// logits and gt have the same shape (any).
double gaussian_focal_loss(const Tensor& logits, const Tensor& gt, Tensor& grad_logits, double grad_scale = 1.0,
                           ThreadPool* pool = nullptr);

struct EmbeddingLoss {
  double pull = 0, push = 0;
  bool br_emb_has_grad = false;  // see CornerHeadLosses (engine/corner_training.h)
};

// Associative-embedding pull/push. tl_emb, br_emb: [N, M, H, W]; match[i] lists
// the corner cells of image i's objects. Per image with K objects, e = embedding
// at a cell (an M-vector), mean_k = (e_tl,k + e_br,k) / 2:
//   pull = sum_k sum_d [(e_tl,k - mean_k)^2 + (e_br,k - mean_k)^2] / K
//   push = sum_{j != k} relu(1 - |sum_d (mean_j - mean_k)|) / (K (K - 1))  (0 when K <= 1)
// (both 0 when K = 0); each multiplied by its weight and summed over the images.
// The gradient is that of pull + push.
EmbeddingLoss associative_embedding_loss(const Tensor& tl_emb, const Tensor& br_emb,
                                         const std::vector<std::vector<CornerMatch>>& match, double pull_weight,
                                         double push_weight, Tensor& grad_tl, Tensor& grad_br,
                                         double grad_scale = 1.0);

// Smooth-L1 (beta) of pred - target [N, C, H, W] weighted by mask [N, 1, H, W]
// (broadcast over C): sum(mask * smoothl1) / (max(1, sum(mask)) + eps).
double masked_smooth_l1_loss(const Tensor& pred, const Tensor& target, const Tensor& mask, double beta,
                             Tensor& grad_pred, double grad_scale = 1.0, ThreadPool* pool = nullptr);

// det = (focal(tl) + focal(br)) / 2, off = (smoothl1(tl) + smoothl1(br)) / 2 on the
// class-agnostic masks of the heatmap targets, pull/push as above. `grads` receives
// grad_scale * d(total)/d(output) for every defined member.
CornerHeadLosses corner_head_losses(const CornerHeadTensors& out, const CornerTargets& targets,
                                    const CornerHeadLossWeights& w, CornerHeadTensors& grads,
                                    double grad_scale = 1.0, ThreadPool* pool = nullptr);

}  // namespace cn
