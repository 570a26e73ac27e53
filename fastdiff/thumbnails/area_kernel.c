/* OpenCV's INTER_AREA downscaling of 8-bit images (cv::resize, modules/imgproc/src/resize.cpp: computeResizeAreaTab and
 * ResizeArea_Invoker<uchar, float>), reproduced operation for operation in single precision, so that every output
 * byte equals cv2.resize's; OpenCV runs that loop one sample at a time, this one eight source rows at a time.
 *
 * The tables (source offset, destination offset, weight) are OpenCV's, built by the caller
 * (fastdiff.thumbnails.area_resize). Horizontal pass: for each source row y and destination sample d,
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

/* See the file's comment. src: h rows of wcn bytes, src_step bytes apart; dst: dh rows of dwcn bytes, dst_step apart.
 * x tables: xk entries (xs: source byte offset in a row, xd: destination offset, xa: weight), channels cn, grouped by
 * destination pixel as OpenCV orders them; y tables: yk entries (ys: source row, yd: destination row, ya: weight).
 * Work buffers: H (h * dwcn floats), T (wcn * LANES bytes), acc (dwcn * LANES floats), sum (dwcn floats). */
void area_resize(const uint8_t *src, ptrdiff_t src_step, int h, int wcn, int cn, uint8_t *dst, ptrdiff_t dst_step,
                 int dwcn, const int32_t *xs, const int32_t *xd, const float *xa, int xk, const int32_t *ys,
                 const int32_t *yd, const float *ya, int yk, float *H, uint8_t *T, float *acc, float *sum)
{
    for (int y0 = 0; y0 < h; y0 += LANES) {
        int n = h - y0 < LANES ? h - y0 : LANES;
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
        for (int l = 0; l < n; l++) {
            float *out = H + (ptrdiff_t)(y0 + l) * dwcn;
            for (int d = 0; d < dwcn; d++)
                out[d] = acc[(ptrdiff_t)d * LANES + l];
        }
    }
    int prev = yd[0];
    for (int d = 0; d < dwcn; d++)
        sum[d] = 0.f;
    for (int j = 0; j < yk; j++) {
        const float beta = ya[j];
        const float *buf = H + (ptrdiff_t)ys[j] * dwcn;
        if (yd[j] != prev) {
            uint8_t *D = dst + (ptrdiff_t)prev * dst_step;
            for (int d = 0; d < dwcn; d++) {
                D[d] = to_u8(sum[d]);
                sum[d] = beta * buf[d];
            }
            prev = yd[j];
        } else {
            for (int d = 0; d < dwcn; d++) {
                float p = beta * buf[d];
                sum[d] = sum[d] + p;
            }
        }
    }
    uint8_t *D = dst + (ptrdiff_t)prev * dst_step;
    for (int d = 0; d < dwcn; d++)
        D[d] = to_u8(sum[d]);
}
