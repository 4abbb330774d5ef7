// Fused CPU kernels for the inference pass of Coordinate Attention and CBAM (attn_ref.fused_cpu).
//
// Each kernel reads its full-size input once. Eager PyTorch needs more passes for the same
// quantities (bench/README.md counts them): CA's two directional means are two reductions, and
// x * a_h * a_w is two broadcast products or an outer product written and read back; CBAM's two
// descriptors are two reductions, and F' = M_c x is written in full before its channel-wise
// maximum and mean are read back from it.
//
// All tensors are contiguous; sizes are passed as views by the Python side (fused_cpu.py):
//   directional_means(x (N, H, W))          -> [mean over W (H values), mean over H (W)] (N, H + W)
//   rank1_scale(x (N, I, J), a (N, I), b (N, J)) -> y (N, I, J),  y = (x * a_i) * b_j
//   row_mean_max(x (R, L))                   -> (mean (R), max (R))
//   scaled_channel_max_mean(x (B, C, L), m (B, C))
//                                            -> (max_c (x m) (B, L), mean_c (x m) (B, L))
//   conv_same_single_out(p (B, Cin, H, W), weight (1, Cin, k, k))
//                                            -> (B, 1, H, W), zero padding k // 2, no bias
// Maxima propagate NaN as torch.amax does. Sums are accumulated in the input's type, in vector-wide
// partial sums (OpenMP simd reductions), so they round differently from PyTorch's reductions,
// within float tolerance.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

namespace {

// max in the form compilers turn into a vector max instruction; it drops a NaN in `a`, so the
// callers recheck, in a rare slow path, any result whose sum is NaN (a NaN input makes the sum
// NaN), and return NaN as torch.amax does
template <typename T>
inline T fast_max(T a, T b) {
  return (a > b) ? a : b;
}

template <typename T>
inline T nan_max(T a, T b) {
  return (b > a || b != b) ? b : a;
}

// col[0..n) += row[0..n); returns the sum of the row (one read of the row for both). The row
// sum is kept in LANES partial sums, each a short dependency chain: rows of CA are short (28 or
// 56 values at the benchmark's shapes), and one horizontal reduction per row decides the time.
// 4 lanes were fastest for rows of 28 and 8 for rows of 56 (bench/README.md).
template <typename T, int LANES>
inline T add_row(const T* row, T* col, int64_t n) {
  T acc[LANES] = {};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES) {
#pragma omp simd
    for (int k = 0; k < LANES; ++k) {
      acc[k] += row[i + k];
      col[i + k] += row[i + k];
    }
  }
  T s = 0;
  for (; i < n; ++i) {
    s += row[i];
    col[i] += row[i];
  }
  for (int k = 0; k < LANES; ++k) s += acc[k];
  return s;
}

constexpr int64_t CONV_BLOCK = 64;

// y[0..CONV_BLOCK) += a * x[0..CONV_BLOCK), a fixed trip count the compiler unrolls
template <typename T>
inline void axpy_fixed(T* y, T a, const T* x) {
#pragma omp simd
  for (int64_t i = 0; i < CONV_BLOCK; ++i) y[i] += a * x[i];
}

// sum and maximum of p[0..n), n > 0 (the maximum drops NaN, see fast_max)
template <typename T>
inline void sum_max(const T* p, int64_t n, T& sum, T& top) {
  T s = 0, m = p[0];
#pragma omp simd reduction(+ : s) reduction(max : m)
  for (int64_t i = 0; i < n; ++i) {
    s += p[i];
    m = fast_max(p[i], m);
  }
  sum = s;
  top = m;
}

void check_cpu_contiguous(const at::Tensor& t, const char* name, int64_t dim) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.dim() == dim, name, " must have ", dim, " dimensions, got ", t.dim());
}

}  // namespace

// CA eqs. (1)-(2) for slices [begin, end) of x (N, H, W) into z (N, H + W)
template <typename T, int LANES>
void means_of_slices(const T* xp, T* zp, int64_t begin, int64_t end, int64_t H, int64_t W) {
  std::vector<T> col(W);
  for (int64_t n = begin; n < end; ++n) {
    const T* s = xp + n * H * W;                  // one (H, W) slice, small enough for L1/L2
    T* zn = zp + n * (H + W);
    std::fill(col.begin(), col.end(), T(0));
    for (int64_t h = 0; h < H; ++h) zn[h] = add_row<T, LANES>(s + h * W, col.data(), W) / T(W);
    for (int64_t w = 0; w < W; ++w) zn[H + w] = col[w] / T(H);
  }
}

at::Tensor directional_means(const at::Tensor& x) {
  check_cpu_contiguous(x, "x", 3);
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2);
  // z[n] = [means over W (H values) ; means over H (W values)]: the layout of eq. (3)'s
  // concatenated input, so no concatenation follows
  auto z = at::empty({N, H + W}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "directional_means", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* zp = z.data_ptr<scalar_t>();
    at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
      if (W >= 48) {
        means_of_slices<scalar_t, 8>(xp, zp, begin, end, H, W);
      } else {
        means_of_slices<scalar_t, 4>(xp, zp, begin, end, H, W);
      }
    });
  });
  return z;
}

at::Tensor rank1_scale(const at::Tensor& x, const at::Tensor& a, const at::Tensor& b) {
  check_cpu_contiguous(x, "x", 3);
  check_cpu_contiguous(a, "a", 2);
  check_cpu_contiguous(b, "b", 2);
  const int64_t N = x.size(0), I = x.size(1), J = x.size(2);
  TORCH_CHECK(a.size(0) == N && a.size(1) == I, "a must have shape (N, I)");
  TORCH_CHECK(b.size(0) == N && b.size(1) == J, "b must have shape (N, J)");
  TORCH_CHECK(a.scalar_type() == x.scalar_type() && b.scalar_type() == x.scalar_type(),
              "x, a and b must have one dtype");
  auto y = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rank1_scale", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const scalar_t* ap = a.data_ptr<scalar_t>();
    const scalar_t* bp = b.data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    // rows (n, i) of J elements; grain so that a task holds at least ~32 K elements
    const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(J, 1));
    at::parallel_for(0, N * I, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t n = r / I;
        const scalar_t ai = ap[r];
        const scalar_t* bj = bp + n * J;
        const scalar_t* xr = xp + r * J;
        scalar_t* yr = yp + r * J;
        for (int64_t j = 0; j < J; ++j) yr[j] = (xr[j] * ai) * bj[j];
      }
    });
  });
  return y;
}

std::vector<at::Tensor> row_mean_max(const at::Tensor& x) {
  check_cpu_contiguous(x, "x", 2);
  const int64_t R = x.size(0), L = x.size(1);
  TORCH_CHECK(L > 0, "rows must not be empty");
  auto mean = at::empty({R}, x.options());
  auto mx = at::empty({R}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "row_mean_max", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* mp = mean.data_ptr<scalar_t>();
    scalar_t* xm = mx.data_ptr<scalar_t>();
    const int64_t grain = std::max<int64_t>(1, 32768 / L);
    at::parallel_for(0, R, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const scalar_t* p = xp + r * L;
        scalar_t s, m;
        sum_max(p, L, s, m);
        if (s != s) {                         // rare: the row may hold a NaN
          for (int64_t j = 0; j < L; ++j) m = nan_max(m, p[j]);
        }
        mp[r] = s / scalar_t(L);
        xm[r] = m;
      }
    });
  });
  return {mean, mx};
}

std::vector<at::Tensor> scaled_channel_max_mean(const at::Tensor& x, const at::Tensor& m) {
  check_cpu_contiguous(x, "x", 3);
  check_cpu_contiguous(m, "m", 2);
  const int64_t B = x.size(0), C = x.size(1), L = x.size(2);
  TORCH_CHECK(C > 0, "x must have at least one channel");
  TORCH_CHECK(m.size(0) == B && m.size(1) == C, "m must have shape (B, C)");
  TORCH_CHECK(m.scalar_type() == x.scalar_type(), "x and m must have one dtype");
  auto mx = at::empty({B, L}, x.options());
  auto mean = at::empty({B, L}, x.options());
  constexpr int64_t BLOCK = 512;          // positions per task: two running rows stay in L1
  const int64_t blocks = (L + BLOCK - 1) / BLOCK;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "scaled_channel_max_mean", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const scalar_t* mp = m.data_ptr<scalar_t>();
    scalar_t* op = mx.data_ptr<scalar_t>();
    scalar_t* ap = mean.data_ptr<scalar_t>();
    at::parallel_for(0, B * blocks, 1, [&](int64_t begin, int64_t end) {
      scalar_t top[BLOCK], sum[BLOCK];
      for (int64_t t = begin; t < end; ++t) {
        const int64_t b = t / blocks, l0 = (t % blocks) * BLOCK;
        const int64_t n = std::min(BLOCK, L - l0);
        const scalar_t* xb = xp + b * C * L + l0;
        const scalar_t* mb = mp + b * C;
        for (int64_t l = 0; l < n; ++l) {
          const scalar_t v = xb[l] * mb[0];
          top[l] = v;
          sum[l] = v;
        }
        for (int64_t c = 1; c < C; ++c) {
          const scalar_t* xc = xb + c * L;
          const scalar_t mc = mb[c];
          for (int64_t l = 0; l < n; ++l) {
            const scalar_t v = xc[l] * mc;
            top[l] = fast_max(v, top[l]);
            sum[l] += v;
          }
        }
        for (int64_t l = 0; l < n; ++l) {
          if (sum[l] != sum[l]) {             // rare: a product may be NaN
            for (int64_t c = 0; c < C; ++c) top[l] = nan_max(top[l], xb[c * L + l] * mb[c]);
          }
          op[b * L + l0 + l] = top[l];
          ap[b * L + l0 + l] = sum[l] / scalar_t(C);
        }
      }
    });
  });
  return {mx, mean};
}

at::Tensor conv_same_single_out(const at::Tensor& p, const at::Tensor& weight) {
  check_cpu_contiguous(p, "p", 4);
  check_cpu_contiguous(weight, "weight", 4);
  const int64_t B = p.size(0), Cin = p.size(1), H = p.size(2), W = p.size(3);
  const int64_t k = weight.size(2), r = k / 2;
  TORCH_CHECK(weight.size(0) == 1 && weight.size(1) == Cin && weight.size(3) == k && k % 2 == 1,
              "weight must have shape (1, Cin, k, k) with k odd");
  TORCH_CHECK(weight.scalar_type() == p.scalar_type(), "p and weight must have one dtype");
  auto y = at::empty({B, 1, H, W}, p.options());
  // padded rows are long enough for whole blocks of CONV_BLOCK outputs (the surplus outputs of
  // the last block read zeros and are not stored)
  const int64_t Hp = H + 2 * r, Wp = (W + CONV_BLOCK - 1) / CONV_BLOCK * CONV_BLOCK + 2 * r;
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "conv_same_single_out", [&] {
    const scalar_t* pp = p.data_ptr<scalar_t>();
    const scalar_t* wp = weight.data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      // one example at a time, copied into a zero-padded buffer, so every tap reads a full row
      std::vector<scalar_t> pad(Cin * Hp * Wp, scalar_t(0));
      for (int64_t b = begin; b < end; ++b) {
        for (int64_t c = 0; c < Cin; ++c)
          for (int64_t h = 0; h < H; ++h)
            std::copy_n(pp + ((b * Cin + c) * H + h) * W, W, pad.data() + (c * Hp + h + r) * Wp + r);
        for (int64_t h = 0; h < H; ++h) {
          scalar_t* yr = yp + (b * H + h) * W;
          // CONV_BLOCK outputs at a time, summed over all taps in a local row the compiler
          // keeps in vector registers, then stored once
          for (int64_t w0 = 0; w0 < W; w0 += CONV_BLOCK) {
            const int64_t n = std::min(CONV_BLOCK, W - w0);
            scalar_t acc[CONV_BLOCK] = {};
            for (int64_t c = 0; c < Cin; ++c) {
              for (int64_t i = 0; i < k; ++i) {
                const scalar_t* row = pad.data() + (c * Hp + h + i) * Wp + w0;
                const scalar_t* wr = wp + (c * k + i) * k;
                for (int64_t j = 0; j < k; ++j) axpy_fixed(acc, wr[j], row + j);
              }
            }
            std::copy_n(acc, n, yr + w0);
          }
        }
      }
    });
  });
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.def("directional_means", &directional_means,
             "CA: means over W and over H side by side, one read");
  module.def("rank1_scale", &rank1_scale, "y = x * a_i * b_j, one read and one write");
  module.def("row_mean_max", &row_mean_max, "mean and max of each row, one read");
  module.def("scaled_channel_max_mean", &scaled_channel_max_mean,
             "max and mean over channels of x * m, one read");
  module.def("conv_same_single_out", &conv_same_single_out,
             "a k x k convolution to one channel, zero padding k // 2, no bias");
}
