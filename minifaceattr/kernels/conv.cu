// conv.cu: the data movement around the GEMM of a 2-D convolution.
//
// Their NumPy twins are in minifaceattr/functional/conv.py, which also does the GEMM itself
// (xp.matmul: cuBLAS on the GPU). The convolution is computed as
//
//     cols = im2col(x)              (C*KH*KW, N*OH*OW)    this file
//     y2   = W2 @ cols              (C_out,   N*OH*OW)    cuBLAS
//     y    = channel_major_to_nchw(y2) + bias             this file
//
// and the columns have this layout, row (c, i, j), column (n, oh, ow):
//
//     cols[(c*KH + i)*KW + j][(n*OH + oh)*OW + ow] = x[n][c][oh*SH - PH + i*DH][ow*SW - PW + j*DW]
//
// (0 where the index falls in the zero padding). Every kernel here is one thread per output
// element in a grid-stride loop, as in activation.cu; each thread turns its flat index back
// into coordinates with / and %. Indices are int: conv.py checks that sizes stay below 2^31.

// im2col: one thread per column element; it copies one input element, or writes a 0.
extern "C" __global__ void im2col(const real_t* __restrict__ x, real_t* __restrict__ cols,
                                  int N, int C, int H, int W, int KH, int KW, int SH, int SW,
                                  int PH, int PW, int DH, int DW, int OH, int OW) {
    int total = C * KH * KW * N * OH * OW;
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += blockDim.x * gridDim.x) {
        // idx = ((((c*KH + i)*KW + j)*N + n)*OH + oh)*OW + ow, peeled from the right.
        int ow = idx % OW, oh = idx / OW % OH, n = idx / (OW * OH) % N;
        int row = idx / (OW * OH * N);                 // (c*KH + i)*KW + j
        int j = row % KW, i = row / KW % KH, c = row / (KW * KH);
        int h = oh * SH - PH + i * DH, w = ow * SW - PW + j * DW;
        bool inside = h >= 0 && h < H && w >= 0 && w < W;
        cols[idx] = inside ? x[((n * C + c) * H + h) * W + w] : (real_t)0;
    }
}

// col2im, the adjoint of im2col: x_grad[n][c][h][w] is the sum of every column element that
// im2col copied from x[n][c][h][w]. One thread per input pixel gathers them, so no two threads
// write the same place (no atomics, and the sum is the same on every run).
//
// Which (i, oh) read row h? Those with oh*SH - PH + i*DH = h, i.e. for each kernel row i,
// h + PH - i*DH must be a multiple of SH, and the quotient oh a valid output row. Same for w.
extern "C" __global__ void col2im(const real_t* __restrict__ cols, real_t* __restrict__ x_grad,
                                  int N, int C, int H, int W, int KH, int KW, int SH, int SW,
                                  int PH, int PW, int DH, int DW, int OH, int OW) {
    int total = N * C * H * W;
    int columns = N * OH * OW;                         // the length of one row of cols
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += blockDim.x * gridDim.x) {
        int w = idx % W, h = idx / W % H, c = idx / (W * H) % C, n = idx / (W * H * C);
        real_t sum = 0;
        for (int i = 0; i < KH; i++) {
            int hh = h + PH - i * DH;                  // = oh * SH if row i of oh reads h
            if (hh < 0 || hh % SH != 0 || hh / SH >= OH) continue;
            int oh = hh / SH;
            for (int j = 0; j < KW; j++) {
                int ww = w + PW - j * DW;
                if (ww < 0 || ww % SW != 0 || ww / SW >= OW) continue;
                int ow = ww / SW;
                int row = (c * KH + i) * KW + j;
                sum += cols[row * columns + (n * OH + oh) * OW + ow];
            }
        }
        x_grad[idx] = sum;
    }
}

// The GEMM works in channel-major order (C, N, P) (P = OH*OW pixels per image): y2 = W2 @ cols
// has one row per output channel. These two kernels move between that order and NCHW.

// y[n][c][p] = y2[c][n][p] + bias[c]  (pass a zero bias for a convolution without one).
extern "C" __global__ void channel_major_to_nchw(const real_t* __restrict__ y2,
                                                 const real_t* __restrict__ bias,
                                                 real_t* __restrict__ y, int N, int C, int P) {
    int total = N * C * P;
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += blockDim.x * gridDim.x) {
        int p = idx % P, c = idx / P % C, n = idx / (P * C);
        y[idx] = y2[(c * N + n) * P + p] + bias[c];
    }
}

// gy2[c][n][p] = gy[n][c][p]: the output gradient in the GEMM's order, for dW and dcols.
extern "C" __global__ void nchw_to_channel_major(const real_t* __restrict__ gy,
                                                 real_t* __restrict__ gy2, int N, int C, int P) {
    int total = N * C * P;
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += blockDim.x * gridDim.x) {
        int p = idx % P, n = idx / P % N, c = idx / (P * N);
        gy2[idx] = gy[(n * C + c) * P + p];
    }
}
