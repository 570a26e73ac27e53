/* Alpha compositing of 8-bit straight-alpha pixels onto a solid background in one pass (fastdiff.thumbnails.composite
 * gives the formula and calls this):
 *     out = round((a * fg + (255 - a) * bg) / 255) = (x + 1 + (x >> 8)) >> 8,  x = a * fg + (255 - a) * bg + 127,
 * exact for every x below 65535 (x is at most 65152), so each step fits in 16 bits. Groups of four pixels that are all
 * opaque are copied and groups that are all transparent take the background, without arithmetic: most pixels of clip
 * art.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static inline uint8_t blend(unsigned a, unsigned fg, unsigned bg)
{
    unsigned x = a * fg + (255u - a) * bg + 127u;
    return (uint8_t)((x + 1u + (x >> 8)) >> 8);
}

/* Pixels [from, w) of one row, any channel order (red: 0 for RGBA, 2 for BGRA) and output pixel stride. */
static void blend_row(const uint8_t *p, uint8_t *q, int from, int w, int red, const uint8_t *bg, ptrdiff_t step)
{
    for (int x = from; x < w; x++) {
        const unsigned a = p[4 * x + 3];
        uint8_t *o = q + (ptrdiff_t)x * step;
        o[0] = blend(a, p[4 * x + red], bg[0]);
        o[1] = blend(a, p[4 * x + 1], bg[1]);
        o[2] = blend(a, p[4 * x + 2 - red], bg[2]);
    }
}

#ifdef __SSE2__
/* The first 3 bytes of each 32-bit lane of v written to q, q + 3, q + 6, q + 9, and q[12] overwritten: each store
 * writes 4 bytes, the fourth of which the next pixel's store (or a later group's) replaces. */
static inline void store_rgb4(uint8_t *q, __m128i v)
{
    uint32_t px[4];
    _mm_storeu_si128((__m128i *)px, v);
    memcpy(q, &px[0], 4);
    memcpy(q + 3, &px[1], 4);
    memcpy(q + 6, &px[2], 4);
    memcpy(q + 9, &px[3], 4);
}

/* Four pixels of 4 bytes in RGB(A) order: bytes 0 and 2 of each 32-bit lane swapped where red is 2 (BGRA). */
static inline __m128i red_first(__m128i v, int red)
{
    if (red == 0)
        return v;
    const __m128i outer = _mm_and_si128(v, _mm_set1_epi32(0x00FF00FF));
    const __m128i swapped = _mm_or_si128(_mm_slli_epi32(outer, 16), _mm_srli_epi32(outer, 16)); /* bytes 2, 0 */
    return _mm_or_si128(_mm_and_si128(v, _mm_set1_epi32((int)0xFF00FF00)), swapped);
}

/* Pixels [0, n) of an RGBA (red 0) or BGRA (red 2) row into a packed RGB row, four at a time; returns how many it
 * did (a multiple of 4 that leaves at least one pixel to blend_row, whose exact 3-byte stores end the row). */
static int blend_row_packed(const uint8_t *p, uint8_t *q, int w, int red, const uint8_t *bg)
{
    const __m128i zero = _mm_setzero_si128(), opaque = _mm_set1_epi32(255);
    const __m128i ones = _mm_set1_epi16(1), half = _mm_set1_epi16(127), full = _mm_set1_epi16(255);
    const uint8_t b0 = bg[red], b2 = bg[2 - red]; /* the background in the pixels' channel order */
    const __m128i back = _mm_setr_epi16(b0, bg[1], b2, 0, b0, bg[1], b2, 0);
    uint8_t pattern[12];
    for (int i = 0; i < 12; i++)
        pattern[i] = bg[i % 3];
    int x = 0;
    for (; x + 4 < w; x += 4) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(p + 4 * x));
        const __m128i alpha = _mm_srli_epi32(v, 24);
        const int solid = _mm_movemask_epi8(_mm_cmpeq_epi32(alpha, opaque));
        if (solid == 0xFFFF) {
            store_rgb4(q + 3 * x, red_first(v, red));
            continue;
        }
        if (_mm_movemask_epi8(_mm_cmpeq_epi32(alpha, zero)) == 0xFFFF) {
            memcpy(q + 3 * x, pattern, 12);
            continue;
        }
        __m128i lo = _mm_unpacklo_epi8(v, zero), hi = _mm_unpackhi_epi8(v, zero);
        __m128i a_lo = _mm_shufflehi_epi16(_mm_shufflelo_epi16(lo, 0xFF), 0xFF);
        __m128i a_hi = _mm_shufflehi_epi16(_mm_shufflelo_epi16(hi, 0xFF), 0xFF);
        __m128i x_lo = _mm_add_epi16(_mm_add_epi16(_mm_mullo_epi16(a_lo, lo),
                                                   _mm_mullo_epi16(_mm_sub_epi16(full, a_lo), back)), half);
        __m128i x_hi = _mm_add_epi16(_mm_add_epi16(_mm_mullo_epi16(a_hi, hi),
                                                   _mm_mullo_epi16(_mm_sub_epi16(full, a_hi), back)), half);
        x_lo = _mm_srli_epi16(_mm_add_epi16(_mm_add_epi16(x_lo, ones), _mm_srli_epi16(x_lo, 8)), 8);
        x_hi = _mm_srli_epi16(_mm_add_epi16(_mm_add_epi16(x_hi, ones), _mm_srli_epi16(x_hi, 8)), 8);
        store_rgb4(q + 3 * x, red_first(_mm_packus_epi16(x_lo, x_hi), red));
    }
    return x;
}
#endif

/* src: h rows of w straight-alpha pixels (4 bytes, red first where red is 0, blue first where it is 2), src_step bytes
 * apart; bg: the background's red, green, blue; dst: h rows of w RGB pixels, dst_row bytes apart, dst_col bytes from
 * one pixel to the next (3 for packed rows; other values, negative ones included, for an oriented view). */
void composite_u8(const uint8_t *src, ptrdiff_t src_step, int h, int w, int red, const uint8_t *bg, uint8_t *dst,
                  ptrdiff_t dst_row, ptrdiff_t dst_col)
{
    for (int y = 0; y < h; y++) {
        const uint8_t *p = src + (ptrdiff_t)y * src_step;
        uint8_t *q = dst + (ptrdiff_t)y * dst_row;
        int done = 0;
#ifdef __SSE2__
        if (dst_col == 3)
            done = blend_row_packed(p, q, w, red, bg);
#endif
        blend_row(p, q, done, w, red, bg, dst_col);
    }
}
