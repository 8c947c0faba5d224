/* The operator table: architecture-file keyword, PyTorch class name, arity, function. */
#include "core/internal.h"

static const sn_op_def ops[SN_OP_COUNT] = {
	[SN_OP_INPUT]     = {"input",     "Input",             0, 0, sn_op_input},
	[SN_OP_CONV]      = {"conv",      "Conv2d",            1, 1, sn_op_conv},
	[SN_OP_BN]        = {"bn",        "BatchNorm2d",       1, 1, sn_op_bn},
	[SN_OP_RELU]      = {"relu",      "ReLU",              1, 1, sn_op_activation},
	[SN_OP_RELU6]     = {"relu6",     "ReLU6",             1, 1, sn_op_activation},
	[SN_OP_SIGMOID]   = {"sigmoid",   "Sigmoid",           1, 1, sn_op_activation},
	[SN_OP_HARDSWISH] = {"hardswish", "Hardswish",         1, 1, sn_op_activation},
	[SN_OP_MAXPOOL]   = {"maxpool",   "MaxPool2d",         1, 1, sn_op_pool},
	[SN_OP_AVGPOOL]   = {"avgpool",   "AvgPool2d",         1, 1, sn_op_pool},
	[SN_OP_GAP]       = {"gap",       "AdaptiveAvgPool2d", 1, 1, sn_op_gap},
	[SN_OP_LINEAR]    = {"linear",    "Linear",            1, 1, sn_op_linear},
	[SN_OP_FLATTEN]   = {"flatten",   "Flatten",           1, 1, sn_op_flatten},
	[SN_OP_DROPOUT]   = {"dropout",   "Dropout",           1, 1, sn_op_dropout},
	[SN_OP_ADD]       = {"add",       "Add",               2, SN_MAX_IN, sn_op_add},
	[SN_OP_CONCAT]    = {"concat",    "Concat",            2, SN_MAX_IN, sn_op_concat},
	[SN_OP_MUL]       = {"mul",       "Mul",               2, 2, sn_op_mul},
	[SN_OP_SOFTMAX]   = {"softmax",   "Softmax",           1, 1, sn_op_softmax},
	[SN_OP_SHUFFLE]   = {"shuffle",   "ChannelShuffle",    1, 1, sn_op_channel_map},
	[SN_OP_SLICE]     = {"slice",     "Slice",             1, 1, sn_op_channel_map},
	[SN_OP_PAD]       = {"pad",       "ConstantPad2d",     1, 1, sn_op_pad},
	[SN_OP_HARDSIGMOID] = {"hardsigmoid", "Hardsigmoid",   1, 1, sn_op_hardsigmoid},
};

const sn_op_def *sn_op_get(sn_op op) { return &ops[op]; }

const char *sn_node_torch(const sn_node *n)
{
	static const char *const pads[] = {"ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d", "CircularPad2d"};
	if (n->op == SN_OP_PAD && (unsigned)n->a.pad.mode < 4)
		return n->a.pad.mode == SN_PAD_ZEROS && n->a.pad.value == 0 ? "ZeroPad2d" : pads[n->a.pad.mode];
	return ops[n->op].torch;
}

int sn_op_from_key(const char *key)
{
	for (int i = 0; i < SN_OP_COUNT; i++)
		if (!strcmp(ops[i].key, key)) return i;
	return -1;
}
