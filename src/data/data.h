/* What the data layer offers the code above it (the command line, tests) besides the public
 * header. */
#ifndef SN_DATA_DATA_H
#define SN_DATA_DATA_H

/* Debian's dataset-fashion-mnist package installs Fashion-MNIST here: the data set used when
 * none is named (sn_fmnist_load, sn_data_open with NULL). */
#define SN_FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#endif
