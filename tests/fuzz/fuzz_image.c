/* libFuzzer target: image decoding (sn_image_decode, PNG via libpng and JPEG via libjpeg-turbo)
 * on arbitrary bytes, then the resampler on what decodes. Properties, beyond ASan's and UBSan's:
 *   - a refusal leaves a message naming the file, and no pixels;
 *   - the 1- and 3-channel decodes agree: both succeed or both fail, with the same size, and the
 *     luma bytes are Pillow's L24 of the RGB bytes;
 *   - an accepted image resize-crops (torchvision Resize + CenterCrop) and resized_crops to a
 *     small size without error; JPEGs also decode with DCT scaling, keeping the short side.
 * Seeds: tests/fixtures/images (make fuzz). */
#include "fuzz.h"
#include "data/image.h"

#define NAME "fuzz.img"

static int decode(const uint8_t *data, size_t len, int c, int min_short, sn_image *im)
{
	fuzz_clear_error();
	int rc = sn_image_decode(data, len, c, min_short, NAME, im);
	if (rc != SN_OK) {
		if (!strcmp(sn_errmsg(), "no error")) fuzz_fail("a refusal without a message", "decode");
		if (!strstr(sn_errmsg(), NAME)) fuzz_fail("a refusal that does not name the file", sn_errmsg());
		if (im->px) fuzz_fail("a refusal that leaves pixels", sn_errmsg());
		return rc;
	}
	if (im->w <= 0 || im->h <= 0 || im->c != c || !im->px) fuzz_fail("an accepted image is malformed", NULL);
	return rc;
}

static void resample(const sn_image *im)
{
	uint8_t out[3 * 13 * 11];
	if (sn_image_resize_crop(im, 12, 13, 11, out) != SN_OK) fuzz_fail("resize+crop failed", sn_errmsg());
	const int bh = im->h > 1 ? im->h / 2 : 1, bw = im->w > 1 ? im->w / 2 : 1;
	if (sn_image_resized_crop(im, im->h / 4, im->w / 4, bh, bw, 7, 9, out) != SN_OK)
		fuzz_fail("resized_crop failed", sn_errmsg());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	sn_image rgb, y;
	const int a = decode(data, len, 3, 0, &rgb), b = decode(data, len, 1, 0, &y);
	if ((a == SN_OK) != (b == SN_OK)) fuzz_fail("the 1- and 3-channel decodes disagree on success", NULL);
	if (a != SN_OK) return 0;
	if (rgb.w != y.w || rgb.h != y.h) fuzz_fail("the 1- and 3-channel decodes disagree on size", NULL);
	const size_t n = (size_t)rgb.w * rgb.h;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = rgb.px + 3 * i;
		if (y.px[i] != (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16))
			fuzz_fail("luma is not L24 of the RGB decode", NULL);
	}
	/* huge but highly compressible images would only measure the resampler's speed */
	if (n <= (1u << 20)) {
		resample(&rgb);
		resample(&y);
	}
	if (sn_image_sniff(data, len) == 2 && n <= (1u << 20)) {
		const int shrt = rgb.w < rgb.h ? rgb.w : rgb.h, want = shrt / 3 + 1;
		sn_image s;
		if (decode(data, len, 3, want, &s) != SN_OK)
			fuzz_fail("a scaled decode failed where the full one did not", sn_errmsg());
		const int ss = s.w < s.h ? s.w : s.h;
		if (ss < want || s.w > rgb.w || s.h > rgb.h) fuzz_fail("a scaled decode lost the short side", NULL);
		sn_image_free(&s);
	}
	sn_image_free(&rgb);
	sn_image_free(&y);
	return 0;
}
