/* Lighten a trained model: swap layers for cheaper ones whose weights are computed in closed
 * form from the trained ones, recover the accuracy lost with one short epoch of distillation
 * from the original model, and save it.
 *
 *   cc lighten.c $(pkg-config --cflags --libs slimnn) -o lighten
 *   ./lighten MODEL OUT.slim [DATA]
 *
 * Two transforms here: every plain kxk conv becomes a depthwise kxk conv followed by a 1x1 conv
 * (depthwise-separable, MobileNet's block), and a flatten -> Linear classifier becomes global
 * average pooling -> Linear. DATA (default: Debian's Fashion-MNIST) calibrates the BatchNorms the
 * transforms insert, trains and measures; `slimnn lighten` does all this with every option
 * (docs/lighten.md). */
#include <stdio.h>
#include <slimnn.h>

#define IMAGES 1000   /* the first images of each split: calibration and test (0: all of them) */

static int fail(const char *what)
{
	fprintf(stderr, "lighten: %s: %s\n", what, sn_errmsg());
	return 1;
}

static double accuracy(sn_graph *g, const sn_dataset *test)
{
	sn_eval_result r;
	if (sn_evaluate(g, test, 256, &r)) return -1;
	sn_eval_free(&r);
	return r.accuracy;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s MODEL OUT.slim [DATA]\n", argv[0]);
		return 2;
	}
	sn_meta meta;
	sn_graph *g = sn_load_any(argv[1], &meta);
	if (!g) return fail("model");
	sn_shape in = sn_graph_input_shape(g);
	sn_data_opts d = sn_data_defaults();
	d.c = in.c; d.h = in.h; d.w = in.w;
	d.limit = IMAGES;
	d.norm = meta.norm.c > 0 ? &meta.norm : NULL;   /* the model's own preprocessing */
	d.resize = meta.resize;
	sn_dataset train, test;
	if (sn_data_open(argc > 3 ? argv[3] : NULL, &d, &train, &test, NULL)) {
		sn_graph_free(g);
		return fail("data");
	}

	sn_lighten_opts o = sn_lighten_defaults();
	o.transforms = SN_LIGHTEN_DSC | SN_LIGHTEN_GAP_HEAD;
	o.calib = &train;   /* statistics for the inserted BatchNorms */
	sn_lighten_report r;
	sn_graph *light = sn_lighten(g, &o, &r);   /* a new graph; g is unchanged */
	int rc = light ? 0 : -1;
	if (light) {
		for (int i = 0; i < r.n_layers; i++) {
			const sn_lighten_layer *L = &r.layers[i];
			printf("%-8s %-13s -> %-32s params %7zu -> %7zu, weight error %.3f\n", L->layer, L->transform,
			       L->replaced_by, L->old_params, L->new_params, L->error);
		}
		for (int i = 0; i < r.n_skipped; i++)   /* the layers left alone, and why */
			printf("%-8s %-13s skipped: %s\n", r.skipped[i].layer, r.skipped[i].transform, r.skipped[i].reason);
		const double before = accuracy(g, &test), closed_form = accuracy(light, &test);
		rc = before < 0 || closed_form < 0 ? -1 : 0;
		/* The closed form keeps what the old layers computed only approximately: the original
		 * model teaches the light one for an epoch (knowledge distillation: the student learns
		 * the teacher's outputs as well as the labels), which recovers much of the rest. */
		sn_train_opts t = sn_train_defaults();
		t.epochs = 1;
		t.batch = 64;
		t.lr = 0.01f;
		t.progress = 0;
		t.teacher = g;
		if (!rc) rc = sn_train(light, &train, &test, &t, NULL, &meta);   /* meta gets the new accuracy */
		if (!rc)
			printf("params %zu -> %zu, mult-adds %llu -> %llu per image; accuracy %.2f %%, lightened %.2f %%, "
			       "distilled %.2f %%\n", r.params_before, r.params_after, (unsigned long long)r.macs_before,
			       (unsigned long long)r.macs_after, 100 * before, 100 * closed_form, 100 * meta.test_accuracy);
		if (!rc) rc = sn_model_save(light, &meta, NULL, argv[2]);
		sn_lighten_report_free(&r);
	}
	sn_graph_free(light);
	sn_dataset_free(&train);
	sn_dataset_free(&test);
	sn_graph_free(g);
	return rc ? fail("lighten") : 0;
}
