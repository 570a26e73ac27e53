/* OpenCV's INTER_AREA downscaling of 8-bit images (cv::resize, modules/imgproc/src/resize.cpp: computeResizeAreaTab and
 * ResizeArea_Invoker<uchar, float>), reproduced operation for operation in single precision, so that every output
 * byte equals cv2.resize's; OpenCV runs that loop one sample at a time, this one eight source rows at a time.
 *
 * The tables (source position, destination position, weight) are OpenCV's (`cells`, its computeResizeAreaTab), with the
 * factor OpenCV computes (1 / (double)(dsize / ssize)). Horizontal pass: for each source row y and destination sample d,
 *     H[y][d] = (...((0 + S[y][s_0] * a_0) + S[y][s_1] * a_1) + ...)     over the x entries with destination d, in order;
 * vertical pass: for each destination row, sum = beta_0 * H[y_0]; sum += beta_i * H[y_i] in order; out = lrintf(sum)
 * clamped to 0..255. Every product and sum is rounded to float on its own: built with -ffp-contract=off (no fused
 * multiply-add), as OpenCV's baseline x86-64 build computes it.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define LANES 8 /* source rows per step of the horizontal pass */

/* computeResizeAreaTab for one output position d: the source positions (consecutive, from *first) and their weights
 * (weights[0 .. count - 1], at most `room`); returns count. In double precision, rounded to float, as OpenCV. */
static int cells(int ssize, double scale, int d, int *first, float *weights, int room)
{
    const double fsx1 = d * scale, fsx2 = fsx1 + scale;
    const double cell = scale < ssize - fsx1 ? scale : ssize - fsx1;
    int sx1 = (int)ceil(fsx1), sx2 = (int)floor(fsx2);
    sx2 = sx2 < ssize - 1 ? sx2 : ssize - 1;
    sx1 = sx1 < sx2 ? sx1 : sx2;
    int k = 0;
    *first = sx1;
    if (sx1 - fsx1 > 1e-3) {
        *first = sx1 - 1;
        weights[k++] = (float)((sx1 - fsx1) / cell);
    }
    for (int sx = sx1; sx < sx2 && k < room; sx++)
        weights[k++] = (float)(1.0 / cell);
    if (fsx2 - sx2 > 1e-3 && k < room) {
        double part = fsx2 - sx2 < 1. ? fsx2 - sx2 : 1.;
        weights[k++] = (float)((part < cell ? part : cell) / cell);
    }
    return k;
}

/* T[x * LANES + l] = rows[l][x] for x < n. */
static void transpose8(const uint8_t *const rows[LANES], uint8_t *T, ptrdiff_t n)
{
    ptrdiff_t x = 0;
#ifdef __SSE2__
    for (; x + 16 <= n; x += 16) {
        __m128i a0 = _mm_loadu_si128((const __m128i *)(rows[0] + x)), a1 = _mm_loadu_si128((const __m128i *)(rows[1] + x));
        __m128i a2 = _mm_loadu_si128((const __m128i *)(rows[2] + x)), a3 = _mm_loadu_si128((const __m128i *)(rows[3] + x));
        __m128i a4 = _mm_loadu_si128((const __m128i *)(rows[4] + x)), a5 = _mm_loadu_si128((const __m128i *)(rows[5] + x));
        __m128i a6 = _mm_loadu_si128((const __m128i *)(rows[6] + x)), a7 = _mm_loadu_si128((const __m128i *)(rows[7] + x));
        __m128i b0 = _mm_unpacklo_epi8(a0, a1), b1 = _mm_unpackhi_epi8(a0, a1);
        __m128i b2 = _mm_unpacklo_epi8(a2, a3), b3 = _mm_unpackhi_epi8(a2, a3);
        __m128i b4 = _mm_unpacklo_epi8(a4, a5), b5 = _mm_unpackhi_epi8(a4, a5);
        __m128i b6 = _mm_unpacklo_epi8(a6, a7), b7 = _mm_unpackhi_epi8(a6, a7);
        __m128i c0 = _mm_unpacklo_epi16(b0, b2), c1 = _mm_unpackhi_epi16(b0, b2);
        __m128i c2 = _mm_unpacklo_epi16(b1, b3), c3 = _mm_unpackhi_epi16(b1, b3);
        __m128i c4 = _mm_unpacklo_epi16(b4, b6), c5 = _mm_unpackhi_epi16(b4, b6);
        __m128i c6 = _mm_unpacklo_epi16(b5, b7), c7 = _mm_unpackhi_epi16(b5, b7);
        __m128i *out = (__m128i *)(T + x * LANES);
        _mm_storeu_si128(out + 0, _mm_unpacklo_epi32(c0, c4));
        _mm_storeu_si128(out + 1, _mm_unpackhi_epi32(c0, c4));
        _mm_storeu_si128(out + 2, _mm_unpacklo_epi32(c1, c5));
        _mm_storeu_si128(out + 3, _mm_unpackhi_epi32(c1, c5));
        _mm_storeu_si128(out + 4, _mm_unpacklo_epi32(c2, c6));
        _mm_storeu_si128(out + 5, _mm_unpackhi_epi32(c2, c6));
        _mm_storeu_si128(out + 6, _mm_unpacklo_epi32(c3, c7));
        _mm_storeu_si128(out + 7, _mm_unpackhi_epi32(c3, c7));
    }
#endif
    for (; x < n; x++)
        for (int l = 0; l < LANES; l++)
            T[x * LANES + l] = rows[l][x];
}

/* acc[(xd[k] + c) * LANES + l] += T[(xs[k] + c) * LANES + l] * xa[k] for k in order, c < cn, l < LANES; inlined with
 * a constant cn, so that the inner loop is unrolled. */
static inline __attribute__((always_inline)) void accumulate(const uint8_t *T, float *acc, const int32_t *xs,
                                                             const int32_t *xd, const float *xa, int xk, int cn)
{
    for (int k = 0; k < xk; k++) {
        const uint8_t *t = T + (ptrdiff_t)xs[k] * LANES;
        float *a = acc + (ptrdiff_t)xd[k] * LANES;
        const float w = xa[k];
        for (int c = 0; c < cn * LANES; c++) {
            float p = (float)t[c] * w;
            a[c] = a[c] + p;
        }
    }
}

static uint8_t to_u8(float v)
{
    long r = lrintf(v); /* cvRound: to nearest, ties to even */
    return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

/* The horizontal pass of source rows y0 .. y0 + LANES - 1 (those below h: the others repeat row y0) into
 * H[l * dwcn + d] for row y0 + l. */
static void horizontal(const uint8_t *src, ptrdiff_t src_step, int h, int wcn, int cn, int dwcn, const int32_t *xs,
                       const int32_t *xd, const float *xa, int xk, int y0, float *H, uint8_t *T, float *acc)
{
    const int n = h - y0 < LANES ? h - y0 : LANES;
    const uint8_t *rows[LANES];
    for (int l = 0; l < LANES; l++)
        rows[l] = src + (ptrdiff_t)(y0 + (l < n ? l : 0)) * src_step;
    transpose8(rows, T, wcn);
    for (ptrdiff_t i = 0; i < (ptrdiff_t)dwcn * LANES; i++)
        acc[i] = 0.f;
    switch (cn) {
    case 1: accumulate(T, acc, xs, xd, xa, xk, 1); break;
    case 3: accumulate(T, acc, xs, xd, xa, xk, 3); break;
    case 4: accumulate(T, acc, xs, xd, xa, xk, 4); break;
    default: accumulate(T, acc, xs, xd, xa, xk, cn);
    }
    for (int l = 0; l < n; l++)
        for (int d = 0; d < dwcn; d++)
            H[(ptrdiff_t)l * dwcn + d] = acc[(ptrdiff_t)d * LANES + l];
}

/* See the file's comment. src: h rows of w pixels of cn bytes, src_step bytes apart; dst: dh rows of dw pixels, dst_step
 * bytes apart (dw <= w, dh <= h). Work buffers, none of which grows with h: xs, xd (int32) and xa (float) of 2 * w + 2
 * entries (the x table: source offset, destination offset, weight; OpenCV's bound is 2 * w), ya (float, yroom
 * entries: the y weights of one output row, at most h / dh + 3), H (LANES * dw * cn floats: the horizontal pass of
 * the LANES rows from `group`, computed as the y entries reach them), T (w * cn * LANES bytes), acc (dw * cn * LANES
 * floats), sum (dw * cn floats). */
void area_resize(const uint8_t *src, ptrdiff_t src_step, int h, int w, int cn, uint8_t *dst, ptrdiff_t dst_step,
                 int dh, int dw, int32_t *xs, int32_t *xd, float *xa, float *ya, int yroom, float *H, uint8_t *T,
                 float *acc, float *sum)
{
    const double scale_x = 1. / ((double)dw / w), scale_y = 1. / ((double)dh / h);
    const int wcn = w * cn, dwcn = dw * cn;
    int xk = 0;
    for (int d = 0; d < dw; d++) {
        int first;
        const int k = cells(w, scale_x, d, &first, xa + xk, 2 * w + 2 - xk);
        for (int i = 0; i < k; i++) {
            xs[xk + i] = (first + i) * cn;
            xd[xk + i] = d * cn;
        }
        xk += k;
    }
    int group = -1;
    for (int dy = 0; dy < dh; dy++) {
        int first;
        const int k = cells(h, scale_y, dy, &first, ya, yroom);
        for (int i = 0; i < k; i++) {
            const int y = first + i;
            if (group < 0 || y < group || y >= group + LANES) {
                group = y;
                horizontal(src, src_step, h, wcn, cn, dwcn, xs, xd, xa, xk, group, H, T, acc);
            }
            const float beta = ya[i];
            const float *buf = H + (ptrdiff_t)(y - group) * dwcn;
            if (i == 0) {
                for (int d = 0; d < dwcn; d++)
                    sum[d] = beta * buf[d];
            } else {
                for (int d = 0; d < dwcn; d++) {
                    float p = beta * buf[d];
                    sum[d] = sum[d] + p;
                }
            }
        }
        uint8_t *D = dst + (ptrdiff_t)dy * dst_step;
        for (int d = 0; d < dwcn; d++)
            D[d] = to_u8(sum[d]);
    }
}
