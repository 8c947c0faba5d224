/* ONNX import and export (docs/onnx.md). The protobuf-c code for onnx.proto is generated at
 * build time into the build tree (see the Makefile); only src/onnx includes it. */
#ifndef SN_ONNX_INTERNAL_H
#define SN_ONNX_INTERNAL_H
#include "onnx.pb-c.h"
#include "core/internal.h"

/* ONNX TensorProto data types used here */
enum { SN_ONNX_FLOAT = 1, SN_ONNX_UINT8 = 2, SN_ONNX_INT8 = 3, SN_ONNX_INT32 = 6, SN_ONNX_INT64 = 7 };

/* opsets the importer accepts, and the one the exporter writes */
#define SN_ONNX_OPSET_MIN 9
#define SN_ONNX_OPSET_MAX 17
#define SN_ONNX_OPSET_OUT 13
/* an .onnx file holds at most this many bytes (protobuf's own limit is 2 GiB) */
#define SN_ONNX_MAX_BYTES ((size_t)1 << 31)

/* metadata_props keys that carry sn_meta through an ONNX file */
#define SN_ONNX_META_DATASET "slimnn.dataset"
#define SN_ONNX_META_MEAN "slimnn.norm_mean"
#define SN_ONNX_META_STD "slimnn.norm_std"
#define SN_ONNX_META_ACC "slimnn.test_accuracy"
#define SN_ONNX_META_RESIZE "slimnn.resize"
#define SN_ONNX_META_CLASSES "slimnn.classes"   /* class names, one per line */

#endif
