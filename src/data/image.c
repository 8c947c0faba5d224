/* Decoding PNG (libpng) and JPEG (libjpeg-turbo) from memory into 1 or 3 interleaved 8-bit
 * channels, giving the bytes PIL gives for Image.open(f).convert('L') / .convert('RGB'): the
 * libraries do the decoding (JPEG with libjpeg's defaults, as Pillow's decoder: ISLOW DCT, fancy
 * upsampling), and the channel conversions below use Pillow's own integer formulas. Both
 * libraries report errors by longjmp from a callback; every resource is owned by a context
 * struct in the caller's frame, so nothing the jump skips over can leak. */
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>
#include <jpeglib.h>
#include <jerror.h>
#include "data/image.h"

/* A forged header must not make us allocate gigabytes: 2^28 pixels (e.g. 16384 x 16384) is far
 * above any photo a data set holds, and the output buffer then stays under 768 MiB. Fuzz builds
 * (SN_SANITIZE) use 2^22: a corrupt JPEG whose entropy data hits a marker decodes as grey without
 * reading further (as in PIL), so large forged sizes would spend the fuzzer's time in memset. */
#ifdef SN_SANITIZE
#define SN_IMAGE_MAX_PIXELS ((uint64_t)1 << 22)
#else
#define SN_IMAGE_MAX_PIXELS ((uint64_t)1 << 28)
#endif

static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};

int sn_image_sniff(const void *data, size_t len)
{
	const uint8_t *p = data;
	if (len >= 8 && !memcmp(p, png_magic, 8)) return 1;
	if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return 2;
	return 0;
}

void sn_image_free(sn_image *im)
{
	if (!im) return;
	free(im->px);
	im->px = NULL;
	im->w = im->h = im->c = 0;
}

/* ---------------------------------------------------------------- channel conversions */

/* Pillow's L24 (Convert.c): luma in 16-bit fixed point, rounded. */
static inline uint8_t luma(const uint8_t *rgb)
{
	return (uint8_t)((rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16);
}

/* n pixels of sc channels at px become dc channels, in place; the buffer holds n * max(sc, dc). */
static void convert_in_place(uint8_t *px, size_t n, int sc, int dc)
{
	if (sc == 3 && dc == 1) {
		for (size_t i = 0; i < n; i++) px[i] = luma(px + 3 * i);   /* i <= 3i: forward is safe */
	} else if (sc == 1 && dc == 3) {
		for (size_t i = n; i-- > 0;) px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = px[i];   /* backward */
	}
}

static int too_big(const char *name, const char *kind, uint64_t w, uint64_t h)
{
	return sn_seterr(SN_EFORMAT, "'%s' is a %s of %llu x %llu pixels, above the limit of %llu pixels; "
	                 "refusing it as corrupt or hostile (resize it first if it is real)", name, kind,
	                 (unsigned long long)w, (unsigned long long)h, (unsigned long long)SN_IMAGE_MAX_PIXELS);
}

/* ---------------------------------------------------------------- PNG */

typedef struct {
	const uint8_t *data;
	size_t len, pos;
	const char *name;
	png_structp png;
	png_infop info;
	uint8_t *px;
	char msg[200];
} png_ctx;

static void png_err_fn(png_structp png, png_const_charp msg)
{
	png_ctx *x = png_get_error_ptr(png);
	snprintf(x->msg, sizeof x->msg, "%s", msg);
	png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg) { (void)png; (void)msg; }   /* quiet, like PIL */

static void png_read_fn(png_structp png, png_bytep dst, size_t n)
{
	png_ctx *x = png_get_io_ptr(png);
	if (n > x->len - x->pos) png_error(png, "the file ends before the image data does (truncated)");
	memcpy(dst, x->data + x->pos, n);
	x->pos += n;
}

/* The part that libpng may jump out of; x owns everything it allocates. */
static int png_decode_inner(png_ctx *x, int c, sn_image *out)
{
	if (setjmp(png_jmpbuf(x->png)))
		return sn_seterr(SN_EFORMAT, "'%s' is a corrupt PNG: %s", x->name, x->msg);
	/* PIL checks every chunk's CRC; libpng would only warn about ancillary ones */
	png_set_crc_action(x->png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
	png_set_read_fn(x->png, x, png_read_fn);
	png_read_info(x->png, x->info);
	png_uint_32 w, h;
	int depth, type, interlace;
	png_get_IHDR(x->png, x->info, &w, &h, &depth, &type, &interlace, NULL, NULL);
	if ((uint64_t)w * h > SN_IMAGE_MAX_PIXELS) return too_big(x->name, "PNG", w, h);
	/* what PIL's convert does: high byte of 16-bit samples, palettes expanded (tRNS ignored),
	 * 1/2/4-bit gray scaled to 0..255, alpha dropped without compositing */
	if (depth == 16) png_set_strip_16(x->png);
	if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(x->png);
	if ((type & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(x->png);
	/* after palette_to_rgb, which also turns tRNS into alpha */
	if ((type & PNG_COLOR_MASK_ALPHA) || png_get_valid(x->png, x->info, PNG_INFO_tRNS)) png_set_strip_alpha(x->png);
	const int passes = png_set_interlace_handling(x->png);
	png_read_update_info(x->png, x->info);
	const int sc = png_get_channels(x->png, x->info);
	if ((sc != 1 && sc != 3) || png_get_rowbytes(x->png, x->info) != (size_t)w * sc)
		return sn_seterr(SN_EFORMAT, "'%s' is a PNG whose pixel layout (colour type %d, depth %d) "
		                 "could not be reduced to gray or RGB", x->name, type, depth);
	const size_t stride = (size_t)w * sc, n = (size_t)w * h;
	x->px = malloc(n * (size_t)(sc > c ? sc : c));
	if (!x->px) return sn_seterr(SN_ENOMEM, "out of memory decoding '%s' (%u x %u)", x->name, w, h);
	/* row by row, so no row-pointer array as tall as the image; interlaced passes combine into
	 * the rows already there */
	for (int p = 0; p < passes; p++)
		for (png_uint_32 y = 0; y < h; y++) png_read_row(x->png, x->px + y * stride, NULL);
	convert_in_place(x->px, n, sc, c);
	out->px = x->px;
	x->px = NULL;
	out->w = (int)w;
	out->h = (int)h;
	out->c = c;
	return SN_OK;
}

static int png_decode(const uint8_t *data, size_t len, int c, const char *name, sn_image *out)
{
	png_ctx x = {.data = data, .len = len, .name = name};
	x.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &x, png_err_fn, png_warn_fn);
	if (x.png) x.info = png_create_info_struct(x.png);
	if (!x.png || !x.info) {
		png_destroy_read_struct(x.png ? &x.png : NULL, NULL, NULL);
		return sn_seterr(SN_ENOMEM, "out of memory starting to decode '%s'", name);
	}
	int rc = png_decode_inner(&x, c, out);
	png_destroy_read_struct(&x.png, &x.info, NULL);
	free(x.px);
	return rc;
}

/* ---------------------------------------------------------------- JPEG */

typedef struct {
	struct jpeg_error_mgr pub;   /* first: libjpeg hands us a pointer to it */
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
} jpeg_err;

typedef struct {
	struct jpeg_decompress_struct ci;
	jpeg_err err;
	const char *name;
	uint8_t *px, *row;
} jpeg_ctx;

static void jpeg_error_exit_fn(j_common_ptr ci)
{
	jpeg_err *e = (jpeg_err *)ci->err;
	e->pub.format_message(ci, e->msg);
	longjmp(e->jb, 1);
}

/* Warnings are ignored as PIL ignores them (extraneous bytes, bad Huffman codes: the image still
 * decodes), except the end of data: libjpeg would fill the rest of the image with grey, where
 * PIL refuses the file as truncated. */
static void jpeg_emit_fn(j_common_ptr ci, int level)
{
	if (level < 0) {
		ci->err->num_warnings++;
		if (ci->err->msg_code == JWRN_JPEG_EOF) jpeg_error_exit_fn(ci);
	}
}

/* Pillow's cmyk2rgb (Convert.c) on Adobe's inverted CMYK, which is how PIL reads every 4-channel
 * JPEG (rawmode "CMYK;I"): libjpeg gives the stored values, PIL inverts them, then converts. */
static void cmyk_row_to_rgb(const uint8_t *in, uint8_t *out, int w)
{
	for (int x = 0; x < w; x++, in += 4, out += 3) {
		const int nk = in[3];   /* 255 - (255 - stored k) */
		for (int ch = 0; ch < 3; ch++) {
			const int t = (255 - in[ch]) * nk + 128, m = ((t >> 8) + t) >> 8;
			const int v = nk - m;
			out[ch] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
	}
}

static int jpeg_decode_inner(jpeg_ctx *x, const uint8_t *data, size_t len, int c, int min_short, sn_image *out)
{
	j_decompress_ptr ci = &x->ci;
	if (setjmp(x->err.jb)) return sn_seterr(SN_EFORMAT, "'%s' is a corrupt JPEG: %s", x->name, x->err.msg);
	jpeg_create_decompress(ci);
	jpeg_mem_src(ci, (unsigned char *)data, (unsigned long)len);
	if (jpeg_read_header(ci, TRUE) != JPEG_HEADER_OK)
		return sn_seterr(SN_EFORMAT, "'%s' is a JPEG without an image (tables only)", x->name);
	if ((uint64_t)ci->image_width * ci->image_height > SN_IMAGE_MAX_PIXELS)
		return too_big(x->name, "JPEG", ci->image_width, ci->image_height);
	int sc;   /* channels libjpeg delivers */
	if (ci->jpeg_color_space == JCS_GRAYSCALE) {
		ci->out_color_space = JCS_GRAYSCALE;
		sc = 1;
	} else if (ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK) {
		ci->out_color_space = JCS_CMYK;   /* libjpeg turns YCCK into CMYK */
		sc = 4;
	} else {
		ci->out_color_space = JCS_RGB;   /* libjpeg refuses what it cannot convert */
		sc = 3;
	}
	if (min_short > 0) {
		/* the smallest of 1/8, 1/4, 1/2 whose output keeps the shorter side >= min_short, else
		 * full size: libjpeg-turbo has SIMD IDCTs for these only (3/8 or 6/8 decode slower than
		 * full size), and they are the scales of PIL's draft(), which gives the same bytes */
		for (int m = 1; m <= 8; m *= 2) {
			ci->scale_num = (unsigned)m;
			ci->scale_denom = 8;
			jpeg_calc_output_dimensions(ci);
			const JDIMENSION s = ci->output_width < ci->output_height ? ci->output_width : ci->output_height;
			if (s >= (JDIMENSION)min_short) break;
		}
	}
	jpeg_start_decompress(ci);
	const int w = (int)ci->output_width, h = (int)ci->output_height;
	if (ci->output_components != sc || w <= 0 || h <= 0)
		return sn_seterr(SN_EFORMAT, "'%s' is a JPEG with an unexpected %d channels", x->name, ci->output_components);
	const int dc = sc == 4 ? 3 : sc;   /* channels stored in px before convert_in_place */
	const size_t n = (size_t)w * h;
	x->px = malloc(n * (size_t)(dc > c ? dc : c));
	if (sc == 4) x->row = malloc((size_t)w * 4);
	if (!x->px || (sc == 4 && !x->row))
		return sn_seterr(SN_ENOMEM, "out of memory decoding '%s' (%d x %d)", x->name, w, h);
	while (ci->output_scanline < ci->output_height) {
		uint8_t *dst = x->px + (size_t)ci->output_scanline * w * dc;
		JSAMPROW row = sc == 4 ? x->row : dst;
		if (jpeg_read_scanlines(ci, &row, 1) != 1)
			return sn_seterr(SN_EFORMAT, "'%s' is a truncated JPEG", x->name);
		if (sc == 4) cmyk_row_to_rgb(x->row, dst, w);
	}
	jpeg_finish_decompress(ci);   /* reads up to EOI: a missing end is truncation too, as for PIL */
	convert_in_place(x->px, n, dc, c);
	out->px = x->px;
	x->px = NULL;
	out->w = w;
	out->h = h;
	out->c = c;
	return SN_OK;
}

static int jpeg_decode(const uint8_t *data, size_t len, int c, int min_short, const char *name, sn_image *out)
{
	jpeg_ctx *x = calloc(1, sizeof *x);   /* ~1 KB of libjpeg state: keep it off loader stacks */
	if (!x) return sn_seterr(SN_ENOMEM, "out of memory starting to decode '%s'", name);
	x->name = name;
	x->ci.err = jpeg_std_error(&x->err.pub);
	x->err.pub.error_exit = jpeg_error_exit_fn;
	x->err.pub.emit_message = jpeg_emit_fn;
	int rc = jpeg_decode_inner(x, data, len, c, min_short, out);
	jpeg_destroy_decompress(&x->ci);   /* safe on a half-built or never-created decompressor */
	free(x->px);
	free(x->row);
	free(x);
	return rc;
}

/* ---------------------------------------------------------------- entry */

int sn_image_decode(const void *data, size_t len, int c, int min_short, const char *name, sn_image *out)
{
	if (!name) name = "(image)";
	if (!out) return sn_seterr(SN_EINVAL, "sn_image_decode of '%s' needs an output image", name);
	memset(out, 0, sizeof *out);
	if (c != 1 && c != 3)
		return sn_seterr(SN_EINVAL, "cannot decode '%s' into %d channels; use 1 (luma) or 3 (RGB)", name, c);
	if (!data || len == 0) return sn_seterr(SN_EFORMAT, "'%s' is empty (0 bytes), not an image", name);
	switch (sn_image_sniff(data, len)) {
	case 1: return png_decode(data, len, c, name, out);
	case 2: return jpeg_decode(data, len, c, min_short, name, out);
	default: {
		const uint8_t *p = data;
		return sn_seterr(SN_EFORMAT, "'%s' is neither a PNG nor a JPEG (it starts with %02x %02x %02x %02x); "
		                 "only those two formats are supported", name, p[0], len > 1 ? p[1] : 0,
		                 len > 2 ? p[2] : 0, len > 3 ? p[3] : 0);
	}
	}
}
