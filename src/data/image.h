/* Decoded images and the geometric preprocessing of image data sets: decoding PNG and JPEG
 * (libpng, libjpeg-turbo), channel conversion, and the bilinear resampling that torchvision's
 * Resize / CenterCrop / RandomResizedCrop do on PIL images, computed as Pillow computes it.
 * Everything here allocates only what it returns; all of it is safe to call from several
 * threads at once (the loader's workers do). */
#ifndef SN_DATA_IMAGE_H
#define SN_DATA_IMAGE_H
#include <stddef.h>
#include <stdint.h>
#include "core/error.h"

/* h rows of w pixels, c interleaved 8-bit channels (HWC), rows packed (stride w * c). */
typedef struct { int w, h, c; uint8_t *px; } sn_image;

/* Which decoder a file's first bytes call for: 1 PNG, 2 JPEG, 0 neither. */
int sn_image_sniff(const void *data, size_t len);

/* Decodes a PNG or JPEG held in memory into c channels, c = 1 or 3, giving the bytes of PIL's
 * Image.open(f).convert('L' or 'RGB') (tests/test_image.c checks them against PIL 9.4):
 *   1: luma as PIL's convert('L') computes it (R*299/1000 + G*587/1000 + B*114/1000, rounded,
 *      in Pillow's fixed point), 3: RGB (gray replicated);
 *   alpha is dropped (not composited, as PIL's convert('RGB')), palettes are expanded (tRNS
 *   ignored), 1/2/4-bit gray is scaled to 0..255, 16-bit samples keep their high byte (v >> 8;
 *   PIL clips 16-bit gray instead), CMYK and YCCK JPEGs are read as PIL does (Adobe's inverted
 *   CMYK, then Pillow's cmyk2rgb); JPEGs decode with libjpeg's defaults as in Pillow (ISLOW DCT,
 *   fancy upsampling).
 * min_short > 0 lets the JPEG decoder scale down in the DCT to the smallest of 1/8, 1/4, 1/2
 * whose shorter side (rounded up, as libjpeg does) is still >= min_short, else full size; 0 decodes
 * at full size (always for PNG). A scaled decode gives the bytes of PIL's draft() at that scale.
 * Images above 2^28 pixels are refused (SN_EFORMAT) before any pixel buffer is allocated.
 * name only labels error messages. SN_EFORMAT naming the file for corrupt or truncated data: a
 * JPEG that ends early (even if only its EOI is missing) and any PNG CRC error count, where
 * libjpeg would pad with grey and libpng would skip ancillary chunks; PIL refuses those too,
 * except bad IDAT CRCs, which PIL does not check. Other libjpeg warnings (extraneous bytes, bad
 * Huffman codes) are ignored as PIL ignores them. A PNG cut off after its last IDAT chunk (IEND
 * missing) still decodes, as in PIL, which also accepts a cut into that chunk's CRC (we do not).
 * SN_ENOMEM, SN_EINVAL for c. On failure *out is zeroed. */
int sn_image_decode(const void *data, size_t len, int c, int min_short, const char *name, sn_image *out);
void sn_image_free(sn_image *im);

/* torchvision's Resize(resize) then CenterCrop((oh, ow)) on a PIL image, written as planar
 * CHW bytes to out (im->c * oh * ow): the shorter side becomes `resize` (the longer
 * int(resize * long / short)), bilinear with Pillow's antialiasing support (filter widened by
 * the scale when shrinking) and its fixed-point rounding; the crop starts at
 * int(round((H - oh) / 2.0)) with Python's half-to-even round, and pads with 0 where the resized
 * image is smaller than the crop. resize <= 0: no resize, centre crop only. Only the output
 * pixels inside the crop are computed. */
int sn_image_resize_crop(const sn_image *im, int resize, int oh, int ow, uint8_t *out);

/* torchvision's F.resized_crop: the box (top, left, bh, bw) cut out of im (box inside the image),
 * then resized to oh x ow as above; planar CHW bytes to out. */
int sn_image_resized_crop(const sn_image *im, int top, int left, int bh, int bw, int oh, int ow, uint8_t *out);

/* RandomResizedCrop.get_params for a w x h image: up to 10 tries of an area fraction uniform in
 * [scale_lo, scale_hi] and a log-uniform aspect ratio in [ratio_lo, ratio_hi], then the centre
 * fallback, exactly as torchvision (only the random stream differs). box = top, left, bh, bw. */
void sn_rrc_box(sn_rng *r, int w, int h, float scale_lo, float scale_hi, float ratio_lo, float ratio_hi, int box[4]);

#endif
