/*
 * Tests of nanonn's C API, run under valgrind in CI: every layer kind, activation, loss,
 * optimizer and schedule; caller and library memory; save and load; and bad input across the
 * ABI (NULL handles and buffers, wrong lengths, invalid enum values, too little memory, layers
 * that do not chain, corrupt model files), each of which must give a status and a message,
 * never a crash. Model files are written to the current directory.
 *
 * Prints one line per test and `N passed, M failed` last; exits non-zero on any failure.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nanonn.h"

static int test_failed;

#define EXPECT(cond)                                                              \
    do {                                                                          \
        if (!(cond)) {                                                            \
            test_failed = 1;                                                      \
            fprintf(stderr, "  %s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
        }                                                                         \
    } while (0)

/* `call` must return `want`; on a failure the message must be non-empty. */
#define EXPECT_STATUS(call, want)                                                              \
    do {                                                                                       \
        NanonnStatus got_ = (call);                                                            \
        if (got_ != (want)) {                                                                  \
            test_failed = 1;                                                                   \
            fprintf(stderr, "  %s:%d: %s gave %s, expected %s (%s)\n", __FILE__, __LINE__,     \
                    #call, nanonn_status_name(got_), nanonn_status_name(want),                 \
                    nanonn_last_error_message());                                              \
        } else if ((want) != NANONN_STATUS_OK && nanonn_last_error_message()[0] == '\0') {     \
            test_failed = 1;                                                                   \
            fprintf(stderr, "  %s:%d: %s failed without a message\n", __FILE__, __LINE__,      \
                    #call);                                                                    \
        }                                                                                      \
    } while (0)

#define OK(call) EXPECT_STATUS(call, NANONN_STATUS_OK)

/* `call` must fail with `want` and a message containing `needle`. */
#define EXPECT_ERROR(call, want, needle)                                                      \
    do {                                                                                      \
        EXPECT_STATUS(call, want);                                                            \
        if (!strstr(nanonn_last_error_message(), (needle))) {                                 \
            test_failed = 1;                                                                  \
            fprintf(stderr, "  %s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,     \
                    nanonn_last_error_message(), (needle));                                   \
        }                                                                                     \
    } while (0)

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                  */

static const NanonnLossConfig SOFTMAX_CE = {NANONN_LOSS_SOFTMAX_CROSS_ENTROPY, 0.0f};

static NanonnOptimizerConfig optimizer(uint32_t kind, float lr) {
    NanonnOptimizerConfig c;
    memset(&c, 0, sizeof c);
    OK(nanonn_optimizer_config_default(kind, lr, &c));
    return c;
}

static NanonnNetBuilder *builder(const size_t *dims, size_t rank) {
    NanonnNetBuilder *b = NULL;
    OK(nanonn_net_builder_new(dims, rank, &b));
    return b;
}

/* A 4-8-3 MLP (tanh) for 4-feature samples. */
static NanonnNetBuilder *small_mlp(void) {
    static const size_t input[] = {4};
    NanonnNetBuilder *b = builder(input, 1);
    OK(nanonn_net_builder_add_dense(b, 4, 8));
    OK(nanonn_net_builder_add_activation(b, NANONN_ACTIVATION_TANH, 0.0f));
    OK(nanonn_net_builder_add_dense(b, 8, 3));
    return b;
}

static NanonnModel *small_model(uint32_t opt, float lr, size_t batch, uint64_t seed) {
    NanonnNetBuilder *b = small_mlp();
    NanonnOptimizerConfig o = optimizer(opt, lr);
    NanonnModel *m = NULL;
    OK(nanonn_model_new(b, &SOFTMAX_CE, &o, batch, seed, &m));
    nanonn_net_builder_free(b);
    return m;
}

/* 8 samples of 4 features in 3 separable classes: class = the larger of x0 and x1 (0 or 1),
   or 2 when both are small. */
static const float X8[32] = {1.0f, 0.1f, 0.3f, 0.2f, 0.9f, 0.0f, 0.5f, 0.1f, 0.1f, 1.0f, 0.2f,
                             0.3f, 0.0f, 0.8f, 0.1f, 0.6f, 0.1f, 0.1f, 0.9f, 0.4f, 0.0f, 0.2f,
                             0.7f, 0.8f, 0.8f, 0.2f, 0.2f, 0.9f, 0.2f, 0.9f, 0.6f, 0.1f};
static const uint32_t Y8[8] = {0, 0, 1, 1, 2, 2, 0, 1};

static size_t param_count(const NanonnModel *m) {
    NanonnModelInfo info;
    memset(&info, 0, sizeof info);
    OK(nanonn_model_info(m, &info));
    return info.param_count;
}

static float *params_of(const NanonnModel *m) {
    size_t n = param_count(m);
    float *p = malloc(n * sizeof *p);
    if (p) OK(nanonn_model_get_params(m, p, n));
    return p;
}

static int same_params(const NanonnModel *a, const NanonnModel *b) {
    size_t n = param_count(a);
    float *pa = params_of(a), *pb = params_of(b);
    int same = n == param_count(b) && pa && pb && memcmp(pa, pb, n * sizeof *pa) == 0;
    free(pa);
    free(pb);
    return same;
}

static float info_lr(const NanonnModel *m) {
    NanonnModelInfo info;
    memset(&info, 0, sizeof info);
    OK(nanonn_model_info(m, &info));
    return info.lr;
}

static int close_to(double a, double b) {
    return fabs(a - b) <= 1e-6 * (fabs(b) > 1e-3 ? fabs(b) : 1e-3);
}

static void train(NanonnModel *m, int steps, float *loss) {
    int i;
    for (i = 0; i < steps; i++) OK(nanonn_model_train_step(m, X8, 32, Y8, 8, loss));
}

/* ---------------------------------------------------------------------------------------- */
/* Tests                                                                                    */

static void test_version(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", NANONN_VERSION_MAJOR, NANONN_VERSION_MINOR,
             NANONN_VERSION_PATCH);
    EXPECT(strcmp(nanonn_version(), expected) == 0);
    EXPECT(nanonn_version_number() ==
           NANONN_VERSION_MAJOR * 10000u + NANONN_VERSION_MINOR * 100u + NANONN_VERSION_PATCH);
    EXPECT(strcmp(nanonn_status_name(NANONN_STATUS_OK), "NANONN_STATUS_OK") == 0);
    EXPECT(strcmp(nanonn_status_name(NANONN_STATUS_FILE_INVALID), "NANONN_STATUS_FILE_INVALID") ==
           0);
    EXPECT(strcmp(nanonn_status_name(12345), "NANONN_STATUS_UNKNOWN") == 0);
}

static void test_null_handles(void) {
    NanonnModelInfo info;
    float loss = -1.0f, acc = -1.0f, x[4] = {0}, out[3];
    uint32_t y[1] = {0};
    size_t n = 99, dims[3];
    uint8_t buf[16];
    NanonnConv2dConfig conv;
    NanonnPool2dConfig pool;
    NanonnOptimizerConfig adam = optimizer(NANONN_OPTIMIZER_ADAM, 1e-3f);
    NanonnModel *m = NULL;
    memset(&conv, 0, sizeof conv);
    memset(&pool, 0, sizeof pool);
    /* _free(NULL) is fine. */
    nanonn_net_builder_free(NULL);
    nanonn_model_free(NULL);
    EXPECT_ERROR(nanonn_net_builder_add_dense(NULL, 4, 4), NANONN_STATUS_NULL_POINTER,
                 "builder is NULL");
    EXPECT_STATUS(nanonn_net_builder_add_activation(NULL, 0, 0.0f), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_conv2d(NULL, &conv), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_conv_transpose2d(NULL, &conv),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_max_pool2d(NULL, &pool), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_avg_pool2d(NULL, &pool), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_global_avg_pool2d(NULL), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_flatten(NULL), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_reshape(NULL, dims, 1), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_batch_norm(NULL, 4, 0.9f, 1e-5f),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_dropout(NULL, 0.5f), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_rnn(NULL, 2, 2, 0), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_lstm(NULL, 2, 2, 0), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_layer_count(NULL, &n), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_output_shape(NULL, dims, 3, &n), NANONN_STATUS_NULL_POINTER);
    EXPECT(n == 99);
    EXPECT_ERROR(nanonn_model_new(NULL, &SOFTMAX_CE, &adam, 8, 1, &m), NANONN_STATUS_NULL_POINTER,
                 "builder is NULL");
    EXPECT(m == NULL);
    EXPECT_STATUS(nanonn_model_bytes_needed(NULL, &SOFTMAX_CE, &adam, 8, &n),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT_ERROR(nanonn_model_train_step(NULL, x, 4, y, 1, &loss), NANONN_STATUS_NULL_POINTER,
                 "model is NULL");
    EXPECT_STATUS(nanonn_model_train_step_values(NULL, x, 4, out, 3, &loss),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_predict(NULL, x, 4, out, 3), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_evaluate(NULL, x, 4, y, 1, &loss, &acc), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_evaluate_values(NULL, x, 4, out, 3, &loss),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT(loss == -1.0f && acc == -1.0f);
    EXPECT_STATUS(nanonn_model_info(NULL, &info), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_get_params(NULL, x, 4), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_set_params(NULL, x, 4), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_set_lr(NULL, 0.1f), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_set_step_lr(NULL, 0.1f, 10, 0.5f), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_set_multi_step_lr(NULL, 0.1f, NULL, 0, 0.5f),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_set_exponential_lr(NULL, 0.1f, 10, 0.5f),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_set_linear_lr(NULL, 0.1f, 0.0f, 10, 0), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_set_cyclical_lr(NULL, 0.0f, 0.1f, 10), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_set_cosine_lr(NULL, 0.1f, 0.0f, 10), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_set_warmup(NULL, 10, 0.0f), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_save(NULL, "x.nnf", NANONN_FILE_KIND_WEIGHTS),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_save_size(NULL, NANONN_FILE_KIND_WEIGHTS, &n),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_save_to_buffer(NULL, NANONN_FILE_KIND_WEIGHTS, buf, 16, &n),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_load(NULL, "x.nnf", NANONN_FILE_KIND_WEIGHTS),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_load_from_buffer(NULL, buf, 16, NANONN_FILE_KIND_WEIGHTS),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT(n == 99);
}

static void test_null_buffers(void) {
    static const size_t input[] = {4};
    NanonnModel *m = small_model(NANONN_OPTIMIZER_ADAM, 0.01f, 8, 1);
    NanonnNetBuilder *b = NULL;
    NanonnOptimizerConfig adam = optimizer(NANONN_OPTIMIZER_ADAM, 1e-3f);
    float loss = -1.0f, acc = -1.0f;
    size_t n = 99;
    EXPECT_ERROR(nanonn_net_builder_new(NULL, 1, &b), NANONN_STATUS_NULL_POINTER,
                 "input_dims is NULL");
    EXPECT_STATUS(nanonn_net_builder_new(input, 1, NULL), NANONN_STATUS_NULL_POINTER);
    EXPECT(b == NULL);
    EXPECT_ERROR(nanonn_model_train_step(m, NULL, 32, Y8, 8, &loss), NANONN_STATUS_NULL_POINTER,
                 "x is NULL");
    EXPECT_ERROR(nanonn_model_train_step(m, X8, 32, NULL, 8, &loss), NANONN_STATUS_NULL_POINTER,
                 "labels is NULL");
    EXPECT_ERROR(nanonn_model_train_step(m, X8, 32, Y8, 8, NULL), NANONN_STATUS_NULL_POINTER,
                 "loss_out is NULL");
    EXPECT_STATUS(nanonn_model_train_step(m, NULL, 0, Y8, 8, &loss), NANONN_STATUS_NULL_POINTER);
    EXPECT_ERROR(nanonn_model_predict(m, X8, 32, NULL, 24), NANONN_STATUS_NULL_POINTER,
                 "out is NULL");
    EXPECT_STATUS(nanonn_model_evaluate(m, X8, 32, Y8, 8, &loss, NULL),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT(loss == -1.0f && acc == -1.0f);
    EXPECT_STATUS(nanonn_model_get_params(m, NULL, param_count(m)), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_set_multi_step_lr(m, 0.1f, NULL, 2, 0.5f),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_save(m, NULL, NANONN_FILE_KIND_WEIGHTS), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_load(m, NULL, NANONN_FILE_KIND_WEIGHTS), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_save_to_buffer(m, NANONN_FILE_KIND_WEIGHTS, NULL, 100, &n),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_load_from_buffer(m, NULL, 100, NANONN_FILE_KIND_WEIGHTS),
                  NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_optimizer_config_default(NANONN_OPTIMIZER_ADAM, 0.1f, NULL),
                  NANONN_STATUS_NULL_POINTER);
    b = small_mlp();
    EXPECT_STATUS(nanonn_model_new(b, NULL, &adam, 8, 1, &m), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_new(b, &SOFTMAX_CE, NULL, 8, 1, &m), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_model_new(b, &SOFTMAX_CE, &adam, 8, 1, NULL), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_conv2d(b, NULL), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_max_pool2d(b, NULL), NANONN_STATUS_NULL_POINTER);
    EXPECT_STATUS(nanonn_net_builder_add_reshape(b, NULL, 1), NANONN_STATUS_NULL_POINTER);
    EXPECT(n == 99);
    nanonn_net_builder_free(b);
    nanonn_model_free(m);
}

static void test_wrong_lengths(void) {
    NanonnModel *m = small_model(NANONN_OPTIMIZER_ADAM, 0.01f, 8, 1);
    float loss = -1.0f, acc = -1.0f, out[24], y[24] = {0}, p[128];
    size_t n = param_count(m), dims[1] = {0}, rank = 99;
    NanonnNetBuilder *b = small_mlp();
    EXPECT_ERROR(nanonn_model_train_step(m, X8, 31, Y8, 8, &loss), NANONN_STATUS_LENGTH_MISMATCH,
                 "x has 31 elements, expected a non-zero multiple of 4");
    EXPECT_STATUS(nanonn_model_train_step(m, X8, 0, Y8, 8, &loss), NANONN_STATUS_LENGTH_MISMATCH);
    EXPECT_ERROR(nanonn_model_train_step(m, X8, 32, Y8, 7, &loss), NANONN_STATUS_LENGTH_MISMATCH,
                 "labels has 7 elements, expected 8");
    EXPECT_STATUS(nanonn_model_train_step_values(m, X8, 32, y, 23, &loss),
                  NANONN_STATUS_LENGTH_MISMATCH);
    EXPECT_STATUS(nanonn_model_predict(m, X8, 32, out, 23), NANONN_STATUS_LENGTH_MISMATCH);
    EXPECT_STATUS(nanonn_model_predict(m, X8, 32, out, 25), NANONN_STATUS_LENGTH_MISMATCH);
    EXPECT_STATUS(nanonn_model_evaluate(m, X8, 32, Y8, 9, &loss, &acc),
                  NANONN_STATUS_LENGTH_MISMATCH);
    EXPECT_STATUS(nanonn_model_evaluate_values(m, X8, 32, y, 3, &loss),
                  NANONN_STATUS_LENGTH_MISMATCH);
    EXPECT(loss == -1.0f && acc == -1.0f);
    EXPECT(n == 4 * 8 + 8 + 8 * 3 + 3 && n < 128);
    EXPECT_STATUS(nanonn_model_get_params(m, p, n - 1), NANONN_STATUS_LENGTH_MISMATCH);
    EXPECT_STATUS(nanonn_model_set_params(m, p, n + 1), NANONN_STATUS_LENGTH_MISMATCH);
    EXPECT_ERROR(nanonn_net_builder_output_shape(b, dims, 0, &rank), NANONN_STATUS_BUFFER_TOO_SMALL,
                 "dims_out");
    EXPECT(rank == 99);
    OK(nanonn_net_builder_output_shape(b, dims, 1, &rank));
    EXPECT(rank == 1 && dims[0] == 3);
    nanonn_net_builder_free(b);
    nanonn_model_free(m);
}

static void test_invalid_enums(void) {
    static const size_t image[] = {6, 6, 1};
    NanonnNetBuilder *b = small_mlp(), *img = builder(image, 3);
    NanonnOptimizerConfig adam = optimizer(NANONN_OPTIMIZER_ADAM, 1e-3f), bad = adam, out;
    NanonnLossConfig bad_loss = {5, 0.0f};
    NanonnConv2dConfig conv;
    NanonnPool2dConfig pool;
    NanonnModel *m = NULL;
    size_t n = 99;
    uint8_t buf[8] = {0};
    memset(&conv, 0, sizeof conv);
    memset(&pool, 0, sizeof pool);
    memset(&out, 0xAB, sizeof out);
    EXPECT_ERROR(nanonn_net_builder_add_activation(b, 7, 0.0f), NANONN_STATUS_INVALID_ENUM,
                 "7 is not a valid NanonnActivation");
    EXPECT_STATUS(nanonn_net_builder_add_activation(b, 0xFFFFFFFFu, 0.0f),
                  NANONN_STATUS_INVALID_ENUM);
    EXPECT_ERROR(nanonn_optimizer_config_default(99, 0.1f, &out), NANONN_STATUS_INVALID_ENUM,
                 "NanonnOptimizer");
    EXPECT(out.kind == 0xABABABABu);
    EXPECT_ERROR(nanonn_model_new(b, &bad_loss, &adam, 8, 1, &m), NANONN_STATUS_INVALID_ENUM,
                 "5 is not a valid NanonnLoss");
    bad.kind = 7;
    EXPECT_STATUS(nanonn_model_new(b, &SOFTMAX_CE, &bad, 8, 1, &m), NANONN_STATUS_INVALID_ENUM);
    bad = adam;
    bad.weight_decay_kind = 3;
    EXPECT_ERROR(nanonn_model_bytes_needed(b, &SOFTMAX_CE, &bad, 8, &n), NANONN_STATUS_INVALID_ENUM,
                 "NanonnWeightDecay");
    EXPECT(m == NULL && n == 99);
    /* A flag is 0 or 1. */
    bad = optimizer(NANONN_OPTIMIZER_MOMENTUM, 0.1f);
    bad.nesterov = 2;
    EXPECT_ERROR(nanonn_model_new(b, &SOFTMAX_CE, &bad, 8, 1, &m), NANONN_STATUS_INVALID_ARGUMENT,
                 "nesterov must be 0 or 1");
    EXPECT_STATUS(nanonn_net_builder_add_rnn(b, 3, 3, 2), NANONN_STATUS_INVALID_ARGUMENT);
    conv.in_channels = 1;
    conv.out_channels = 2;
    conv.kernel_h = conv.kernel_w = 3;
    conv.padding = 3;
    EXPECT_ERROR(nanonn_net_builder_add_conv2d(img, &conv), NANONN_STATUS_INVALID_ENUM,
                 "NanonnPadding");
    conv.padding = NANONN_PADDING_VALID;
    conv.no_bias = 7;
    EXPECT_STATUS(nanonn_net_builder_add_conv2d(img, &conv), NANONN_STATUS_INVALID_ARGUMENT);
    pool.kernel_h = pool.kernel_w = 2;
    pool.padding = 100;
    EXPECT_STATUS(nanonn_net_builder_add_max_pool2d(img, &pool), NANONN_STATUS_INVALID_ENUM);
    EXPECT_STATUS(nanonn_net_builder_add_avg_pool2d(img, &pool), NANONN_STATUS_INVALID_ENUM);
    OK(nanonn_net_builder_layer_count(img, &n));
    EXPECT(n == 0);
    OK(nanonn_model_new(b, &SOFTMAX_CE, &adam, 8, 1, &m));
    EXPECT_ERROR(nanonn_model_save(m, "never.nnf", 2), NANONN_STATUS_INVALID_ENUM,
                 "NanonnFileKind");
    EXPECT_STATUS(nanonn_model_save_size(m, 9, &n), NANONN_STATUS_INVALID_ENUM);
    EXPECT_STATUS(nanonn_model_load(m, "never.nnf", 2), NANONN_STATUS_INVALID_ENUM);
    EXPECT_STATUS(nanonn_model_load_from_buffer(m, buf, 8, 2), NANONN_STATUS_INVALID_ENUM);
    EXPECT(fopen("never.nnf", "rb") == NULL);
    nanonn_model_free(m);
    nanonn_net_builder_free(b);
    nanonn_net_builder_free(img);
}

static void test_caller_memory(void) {
    NanonnNetBuilder *b = small_mlp();
    NanonnOptimizerConfig adam = optimizer(NANONN_OPTIMIZER_ADAM, 0.01f);
    NanonnModel *in = NULL, *own = NULL;
    size_t bytes = 0, i;
    unsigned char *block;
    char needle[64];
    float la = 0.0f, lo = 0.0f;
    OK(nanonn_model_bytes_needed(b, &SOFTMAX_CE, &adam, 8, &bytes));
    EXPECT(bytes > 0);
    block = malloc(bytes + 3);
    if (!block) return;
    EXPECT_ERROR(nanonn_model_new_in(b, &SOFTMAX_CE, &adam, 8, 5, NULL, bytes, &in),
                 NANONN_STATUS_NULL_POINTER, "memory is NULL");
    snprintf(needle, sizeof needle, "%zu bytes needed, %zu available", bytes, bytes - 1);
    EXPECT_ERROR(nanonn_model_new_in(b, &SOFTMAX_CE, &adam, 8, 5, block, bytes - 1, &in),
                 NANONN_STATUS_BUFFER_TOO_SMALL, needle);
    EXPECT_STATUS(nanonn_model_new_in(b, &SOFTMAX_CE, &adam, 8, 5, block, 0, &in),
                  NANONN_STATUS_BUFFER_TOO_SMALL);
    EXPECT(in == NULL);
    /* Any address works: nanonn aligns inside the block. */
    OK(nanonn_model_new_in(b, &SOFTMAX_CE, &adam, 8, 5, block + 3, bytes, &in));
    OK(nanonn_model_new(b, &SOFTMAX_CE, &adam, 8, 5, &own));
    nanonn_net_builder_free(b);
    /* Same seed, same everything: bit-identical training in either memory. */
    EXPECT(same_params(in, own));
    for (i = 0; i < 20; i++) {
        OK(nanonn_model_train_step(in, X8, 32, Y8, 8, &la));
        OK(nanonn_model_train_step(own, X8, 32, Y8, 8, &lo));
        EXPECT(memcmp(&la, &lo, sizeof la) == 0);
    }
    EXPECT(same_params(in, own));
    nanonn_model_free(in);
    nanonn_model_free(own);
    free(block);
}

static void test_layers_that_do_not_chain(void) {
    static const size_t mnist[] = {784}, image[] = {6, 6, 1}, to_image[] = {28, 28, 1},
                        wrong[] = {27, 27, 1};
    NanonnNetBuilder *b = builder(mnist, 1), *img = builder(image, 3);
    NanonnConv2dConfig conv;
    NanonnOptimizerConfig adam = optimizer(NANONN_OPTIMIZER_ADAM, 1e-3f);
    NanonnModel *m = NULL;
    size_t n = 0;
    float loss;
    float x[784 * 2];
    uint32_t y[2] = {3, 7};
    memset(x, 0, sizeof x);
    memset(&conv, 0, sizeof conv);
    OK(nanonn_net_builder_add_dense(b, 784, 400));
    EXPECT_ERROR(nanonn_net_builder_add_dense(b, 300, 10), NANONN_STATUS_SHAPE_MISMATCH,
                 "layer 1 (Dense): input shape [400] does not match the expected [300]");
    OK(nanonn_net_builder_layer_count(b, &n));
    EXPECT(n == 1);
    /* A convolution needs an image, not a vector. */
    conv.in_channels = 1;
    conv.out_channels = 4;
    conv.kernel_h = conv.kernel_w = 3;
    EXPECT_ERROR(nanonn_net_builder_add_conv2d(b, &conv), NANONN_STATUS_INVALID_ARGUMENT,
                 "layer 1 (Conv2D)");
    EXPECT_ERROR(nanonn_net_builder_add_reshape(b, wrong, 3), NANONN_STATUS_INVALID_ARGUMENT,
                 "layer 1 (Reshape)");
    EXPECT_STATUS(nanonn_net_builder_add_dense(b, 400, 0), NANONN_STATUS_INVALID_ARGUMENT);
    /* A kernel larger than the image. */
    conv.kernel_h = conv.kernel_w = 7;
    EXPECT_STATUS(nanonn_net_builder_add_conv2d(img, &conv), NANONN_STATUS_INVALID_ARGUMENT);
    conv.kernel_h = conv.kernel_w = 3;
    conv.in_channels = 2;
    EXPECT_ERROR(nanonn_net_builder_add_conv2d(img, &conv), NANONN_STATUS_SHAPE_MISMATCH,
                 "layer 0 (Conv2D)");
    EXPECT_ERROR(nanonn_net_builder_add_reshape(b, to_image, 0), NANONN_STATUS_INVALID_ARGUMENT,
                 "1 to 3 dimensions");
    EXPECT_ERROR(nanonn_net_builder_add_reshape(b, to_image, 3), NANONN_STATUS_INVALID_ARGUMENT,
                 "as many elements");
    /* The builder is unchanged: it still makes a working model. */
    OK(nanonn_net_builder_add_activation(b, NANONN_ACTIVATION_RELU, 0.0f));
    OK(nanonn_net_builder_add_dense(b, 400, 10));
    OK(nanonn_model_new(b, &SOFTMAX_CE, &adam, 2, 1, &m));
    OK(nanonn_model_train_step(m, x, 784 * 2, y, 2, &loss));
    EXPECT(fabsf(loss - logf(10.0f)) < 1e-5f); /* zero input, zero bias: uniform softmax */
    EXPECT_STATUS(nanonn_model_new(b, &SOFTMAX_CE, &adam, 0, 1, &m), NANONN_STATUS_INVALID_ARGUMENT);
    nanonn_model_free(m);
    nanonn_net_builder_free(b);
    nanonn_net_builder_free(img);
}

/* Builds, trains a few steps with values targets, and predicts: the loss must stay finite
   and the output must have `out_size` floats per sample. */
static void exercise(NanonnNetBuilder *b, size_t in_size, size_t out_size, NanonnLossConfig loss) {
    enum { N = 4 };
    NanonnOptimizerConfig adam = optimizer(NANONN_OPTIMIZER_ADAM, 1e-2f);
    NanonnModel *m = NULL;
    NanonnModelInfo info;
    float *x = malloc(N * in_size * sizeof *x), *y = malloc(N * out_size * sizeof *y);
    float *out = malloc(N * out_size * sizeof *out), first = 0.0f, l = 0.0f;
    size_t i;
    int step;
    if (!x || !y || !out) goto done;
    for (i = 0; i < N * in_size; i++) x[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
    for (i = 0; i < N * out_size; i++) y[i] = (float)((i * 11) % 7) / 7.0f;
    OK(nanonn_model_new(b, &loss, &adam, N, 3, &m));
    if (!m) goto done;
    OK(nanonn_model_info(m, &info));
    EXPECT(info.input_size == in_size && info.output_size == out_size);
    for (step = 0; step < 30; step++) {
        OK(nanonn_model_train_step_values(m, x, N * in_size, y, N * out_size, &l));
        if (step == 0) first = l;
        EXPECT(isfinite(l));
    }
    EXPECT(l < first);
    OK(nanonn_model_predict(m, x, N * in_size, out, N * out_size));
    for (i = 0; i < N * out_size; i++) EXPECT(isfinite(out[i]));
done:
    nanonn_model_free(m);
    free(x);
    free(y);
    free(out);
}

static void test_every_layer_kind(void) {
    static const size_t flat[] = {64}, image[] = {8, 8, 1}, seq[] = {5, 3};
    static const NanonnLossConfig mse = {NANONN_LOSS_MSE, 0.0f};
    NanonnConv2dConfig conv;
    NanonnPool2dConfig pool;
    NanonnNetBuilder *b;
    size_t dims[3], rank = 0;
    /* Reshape, Conv2D (same padding), BatchNorm, MaxPool2D, ConvTranspose2D (stride 2),
       AvgPool2D (explicit padding), Conv2D (explicit padding, dilation, no bias),
       GlobalAvgPool2D, Dropout, Dense. */
    b = builder(flat, 1);
    memset(&conv, 0, sizeof conv);
    memset(&pool, 0, sizeof pool);
    dims[0] = dims[1] = 8;
    dims[2] = 1;
    OK(nanonn_net_builder_add_reshape(b, dims, 3));
    conv.in_channels = 1;
    conv.out_channels = 4;
    conv.kernel_h = conv.kernel_w = 3;
    conv.padding = NANONN_PADDING_SAME;
    OK(nanonn_net_builder_add_conv2d(b, &conv));
    OK(nanonn_net_builder_add_batch_norm(b, 4, 0.9f, 1e-5f));
    OK(nanonn_net_builder_add_activation(b, NANONN_ACTIVATION_RELU, 0.0f));
    pool.kernel_h = pool.kernel_w = 2;
    OK(nanonn_net_builder_add_max_pool2d(b, &pool)); /* 4x4x4 */
    memset(&conv, 0, sizeof conv);
    conv.in_channels = 4;
    conv.out_channels = 2;
    conv.kernel_h = conv.kernel_w = 2;
    conv.stride_h = conv.stride_w = 2;
    OK(nanonn_net_builder_add_conv_transpose2d(b, &conv)); /* 8x8x2 */
    memset(&pool, 0, sizeof pool);
    pool.kernel_h = pool.kernel_w = 3;
    pool.stride_h = pool.stride_w = 2;
    pool.padding = NANONN_PADDING_EXPLICIT;
    pool.pad_top = pool.pad_left = 1;
    OK(nanonn_net_builder_add_avg_pool2d(b, &pool)); /* 4x4x2 */
    memset(&conv, 0, sizeof conv);
    conv.in_channels = 2;
    conv.out_channels = 3;
    conv.kernel_h = conv.kernel_w = 2;
    conv.dilation_h = conv.dilation_w = 2;
    conv.padding = NANONN_PADDING_EXPLICIT;
    conv.pad_top = conv.pad_bottom = conv.pad_left = conv.pad_right = 1;
    conv.no_bias = 1;
    OK(nanonn_net_builder_add_conv2d(b, &conv)); /* 4x4x3 */
    OK(nanonn_net_builder_output_shape(b, dims, 3, &rank));
    EXPECT(rank == 3 && dims[0] == 4 && dims[1] == 4 && dims[2] == 3);
    OK(nanonn_net_builder_add_global_avg_pool2d(b)); /* 3 */
    OK(nanonn_net_builder_add_dropout(b, 0.9f));
    OK(nanonn_net_builder_add_dense(b, 3, 2));
    exercise(b, 64, 2, mse);
    nanonn_net_builder_free(b);

    /* Conv2D, Flatten, Dense on an image input. */
    b = builder(image, 3);
    memset(&conv, 0, sizeof conv);
    conv.in_channels = 1;
    conv.out_channels = 2;
    conv.kernel_h = conv.kernel_w = 3;
    OK(nanonn_net_builder_add_conv2d(b, &conv)); /* 6x6x2 */
    OK(nanonn_net_builder_add_flatten(b));
    OK(nanonn_net_builder_add_dense(b, 72, 3));
    exercise(b, 64, 3, SOFTMAX_CE);
    nanonn_net_builder_free(b);

    /* RNN returning every step, then an LSTM returning the last one. */
    b = builder(seq, 2);
    OK(nanonn_net_builder_add_rnn(b, 3, 4, 1));
    OK(nanonn_net_builder_output_shape(b, dims, 3, &rank));
    EXPECT(rank == 2 && dims[0] == 5 && dims[1] == 4);
    OK(nanonn_net_builder_add_lstm(b, 4, 6, 0));
    OK(nanonn_net_builder_add_dense(b, 6, 2));
    exercise(b, 15, 2, mse);
    nanonn_net_builder_free(b);
}

static void test_every_activation(void) {
    static const size_t input[] = {4};
    /* LeakyReLU's slope and ELU's alpha; the others ignore theirs. */
    static const float params[] = {0.0f, 0.2f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f};
    uint32_t act;
    for (act = NANONN_ACTIVATION_RELU; act <= NANONN_ACTIVATION_GELU; act++) {
        NanonnNetBuilder *b = builder(input, 1);
        OK(nanonn_net_builder_add_dense(b, 4, 6));
        OK(nanonn_net_builder_add_activation(b, act, params[act]));
        OK(nanonn_net_builder_add_dense(b, 6, 3));
        exercise(b, 4, 3, SOFTMAX_CE);
        nanonn_net_builder_free(b);
    }
    {
        NanonnNetBuilder *b = builder(input, 1);
        EXPECT_ERROR(nanonn_net_builder_add_activation(b, NANONN_ACTIVATION_ELU, NAN),
                     NANONN_STATUS_INVALID_ARGUMENT, "ELU alpha must be finite");
        nanonn_net_builder_free(b);
    }
}

/* Trains the 8-sample problem with a loss (values targets: one-hot) and returns first and
   last loss. */
static void fit(uint32_t opt, float lr, NanonnLossConfig loss, int steps, float *first,
                float *last) {
    NanonnNetBuilder *b = small_mlp();
    NanonnOptimizerConfig o = optimizer(opt, lr);
    NanonnModel *m = NULL;
    float onehot[24];
    int i;
    memset(onehot, 0, sizeof onehot);
    for (i = 0; i < 8; i++) onehot[i * 3 + Y8[i]] = 1.0f;
    *first = *last = NAN;
    OK(nanonn_model_new(b, &loss, &o, 8, 11, &m));
    for (i = 0; m && i < steps; i++) {
        OK(nanonn_model_train_step_values(m, X8, 32, onehot, 24, last));
        if (i == 0) *first = *last;
    }
    nanonn_model_free(m);
    nanonn_net_builder_free(b);
}

static void test_every_loss_and_optimizer(void) {
    static const float lrs[] = {0.5f, 0.1f, 0.1f, 0.01f, 1.0f, 0.01f, 0.05f};
    NanonnLossConfig loss;
    uint32_t k;
    float first, last;
    for (k = NANONN_LOSS_SOFTMAX_CROSS_ENTROPY; k <= NANONN_LOSS_HUBER; k++) {
        loss.kind = k;
        loss.delta = 0.5f;
        fit(NANONN_OPTIMIZER_ADAM, 0.02f, loss, 60, &first, &last);
        if (!(last < 0.7f * first)) {
            test_failed = 1;
            fprintf(stderr, "  loss %u: %g -> %g\n", k, first, last);
        }
    }
    loss.kind = NANONN_LOSS_HUBER;
    loss.delta = 0.0f;
    {
        NanonnNetBuilder *b = small_mlp();
        NanonnOptimizerConfig o = optimizer(NANONN_OPTIMIZER_SGD, 0.1f);
        NanonnModel *m = NULL;
        EXPECT_ERROR(nanonn_model_new(b, &loss, &o, 8, 1, &m), NANONN_STATUS_INVALID_ARGUMENT,
                     "Huber delta");
        nanonn_net_builder_free(b);
    }
    for (k = NANONN_OPTIMIZER_SGD; k <= NANONN_OPTIMIZER_RADAM; k++) {
        fit(k, lrs[k], SOFTMAX_CE, 60, &first, &last);
        if (!(last < 0.7f * first)) {
            test_failed = 1;
            fprintf(stderr, "  optimizer %u: %g -> %g\n", k, first, last);
        }
    }
    {
        NanonnOptimizerConfig c = optimizer(NANONN_OPTIMIZER_ADAM, 1e-3f);
        EXPECT(c.kind == NANONN_OPTIMIZER_ADAM && c.lr == 1e-3f && c.beta1 == 0.9f &&
               c.beta2 == 0.999f && c.eps == 1e-8f && c.weight_decay_kind == 0);
        c = optimizer(NANONN_OPTIMIZER_MOMENTUM, 0.1f);
        EXPECT(c.momentum == 0.9f && c.nesterov == 0);
        c.nesterov = 1;
        c.weight_decay_kind = NANONN_WEIGHT_DECAY_L2;
        c.weight_decay = 1e-4f;
        {
            NanonnNetBuilder *b = small_mlp();
            NanonnModel *m = NULL;
            float l;
            OK(nanonn_model_new(b, &SOFTMAX_CE, &c, 8, 1, &m));
            train(m, 3, &l);
            nanonn_model_free(m);
            c = optimizer(NANONN_OPTIMIZER_ADAM, 1e-3f);
            c.weight_decay_kind = NANONN_WEIGHT_DECAY_DECOUPLED;
            c.weight_decay = -1.0f;
            EXPECT_ERROR(nanonn_model_new(b, &SOFTMAX_CE, &c, 8, 1, &m),
                         NANONN_STATUS_INVALID_ARGUMENT, "weight decay");
            c = optimizer(NANONN_OPTIMIZER_ADAM, -1.0f);
            EXPECT_ERROR(nanonn_model_new(b, &SOFTMAX_CE, &c, 8, 1, &m),
                         NANONN_STATUS_INVALID_ARGUMENT, "learning rate");
            nanonn_net_builder_free(b);
        }
    }
}

/* The rate of the next step after `steps` steps, by training. */
static float lr_after(NanonnModel *m, int steps) {
    float l;
    train(m, steps, &l);
    return info_lr(m);
}

static void test_schedules(void) {
    NanonnModel *m = small_model(NANONN_OPTIMIZER_SGD, 0.05f, 8, 2);
    static const uint64_t milestones[] = {1, 3};
    static const uint64_t unordered[] = {3, 1};
    uint64_t many[NANONN_MAX_MILESTONES + 1];
    const double pi = 3.14159265358979323846;
    int i;
    for (i = 0; i <= NANONN_MAX_MILESTONES; i++) many[i] = (uint64_t)i + 1;
    EXPECT(info_lr(m) == 0.05f);
    /* Step decay: 1, 1, 0.5, 0.5, 0.25 (hand-computed). */
    OK(nanonn_model_set_step_lr(m, 1.0f, 2, 0.5f));
    EXPECT(info_lr(m) == 1.0f);
    EXPECT(lr_after(m, 1) == 1.0f);
    EXPECT(lr_after(m, 1) == 0.5f);
    EXPECT(lr_after(m, 2) == 0.25f);
    nanonn_model_free(m);

    m = small_model(NANONN_OPTIMIZER_SGD, 0.05f, 8, 2);
    OK(nanonn_model_set_multi_step_lr(m, 1.0f, milestones, 2, 0.1f));
    EXPECT(info_lr(m) == 1.0f);
    EXPECT(close_to(lr_after(m, 1), 0.1));
    EXPECT(close_to(lr_after(m, 2), 0.01));
    /* Exponential: base * rate^(step / decay_steps), now at step 3. */
    OK(nanonn_model_set_exponential_lr(m, 1.0f, 2, 0.5f));
    EXPECT(close_to(info_lr(m), pow(0.5, 1.5)));
    /* Linear: 1 until step 4, then to 0.2 over 4 steps: at step 6, 0.6. */
    OK(nanonn_model_set_linear_lr(m, 1.0f, 0.2f, 4, 4));
    EXPECT(info_lr(m) == 1.0f);
    EXPECT(close_to(lr_after(m, 3), 0.6));
    /* Cyclical triangle 0..1 over 4 steps: at step 6 (2 into the cycle), the peak. */
    OK(nanonn_model_set_cyclical_lr(m, 0.0f, 1.0f, 4));
    EXPECT(close_to(info_lr(m), 1.0));
    EXPECT(close_to(lr_after(m, 1), 0.5));
    /* Cosine from 1 to 0.1 over 14 steps, at step 7: the midpoint. */
    OK(nanonn_model_set_cosine_lr(m, 1.0f, 0.1f, 14));
    EXPECT(close_to(info_lr(m), 0.1 + 0.9 * 0.5 * (1.0 + cos(pi * 7.0 / 14.0))));
    nanonn_model_free(m);

    /* Warm-up of 4 steps from 0, in front of a fixed 0.8. */
    m = small_model(NANONN_OPTIMIZER_SGD, 0.8f, 8, 2);
    OK(nanonn_model_set_warmup(m, 4, 0.0f));
    EXPECT(info_lr(m) == 0.0f);
    EXPECT(close_to(lr_after(m, 1), 0.2));
    EXPECT(close_to(lr_after(m, 2), 0.6));
    EXPECT(close_to(lr_after(m, 1), 0.8));
    /* A schedule set later stays behind the warm-up, shifted by it. */
    OK(nanonn_model_set_step_lr(m, 1.0f, 1, 0.5f));
    EXPECT(close_to(info_lr(m), 1.0));
    EXPECT(close_to(lr_after(m, 2), 0.25));
    OK(nanonn_model_set_lr(m, 0.3f));
    EXPECT(lr_after(m, 1) == 0.3f);

    EXPECT_ERROR(nanonn_model_set_step_lr(m, 1.0f, 0, 0.5f), NANONN_STATUS_INVALID_ARGUMENT,
                 "step_size");
    EXPECT_STATUS(nanonn_model_set_multi_step_lr(m, 1.0f, unordered, 2, 0.5f),
                  NANONN_STATUS_INVALID_ARGUMENT);
    EXPECT_ERROR(nanonn_model_set_multi_step_lr(m, 1.0f, many, NANONN_MAX_MILESTONES + 1, 0.5f),
                 NANONN_STATUS_CAPACITY_EXCEEDED, "milestones");
    EXPECT_STATUS(nanonn_model_set_cosine_lr(m, NAN, 0.0f, 10), NANONN_STATUS_INVALID_ARGUMENT);
    EXPECT_STATUS(nanonn_model_set_warmup(m, 10, 2.0f), NANONN_STATUS_INVALID_ARGUMENT);
    EXPECT_STATUS(nanonn_model_set_lr(m, -1.0f), NANONN_STATUS_INVALID_ARGUMENT);
    /* Failed calls leave the schedule as it was. */
    EXPECT(info_lr(m) == 0.3f);
    OK(nanonn_model_set_multi_step_lr(m, 0.2f, NULL, 0, 0.5f));
    EXPECT(info_lr(m) == 0.2f);
    nanonn_model_free(m);
}

static void test_seed(void) {
    NanonnModel *a = small_model(NANONN_OPTIMIZER_ADAM, 0.01f, 8, 42);
    NanonnModel *b = small_model(NANONN_OPTIMIZER_ADAM, 0.01f, 8, 42);
    NanonnModel *c = small_model(NANONN_OPTIMIZER_ADAM, 0.01f, 8, 43);
    float l;
    EXPECT(same_params(a, b));
    EXPECT(!same_params(a, c));
    train(a, 5, &l);
    EXPECT(!same_params(a, b));
    train(b, 5, &l);
    EXPECT(same_params(a, b));
    nanonn_model_free(a);
    nanonn_model_free(b);
    nanonn_model_free(c);
}

/* Softmax cross-entropy of one row of logits, computed here independently. */
static double softmax_ce(const float *logits, size_t n, uint32_t label) {
    double max = logits[0], sum = 0.0;
    size_t i;
    for (i = 1; i < n; i++)
        if (logits[i] > max) max = logits[i];
    for (i = 0; i < n; i++) sum += exp(logits[i] - max);
    return log(sum) - (logits[label] - max);
}

static void test_predict_and_evaluate(void) {
    /* Batch 3 for 8 samples: prediction and evaluation split into 3 + 3 + 2. */
    NanonnModel *m = small_model(NANONN_OPTIMIZER_ADAM, 0.05f, 3, 9);
    float out[24], loss = 0.0f, acc = 0.0f, l;
    double expected = 0.0;
    size_t i, j, hits = 0;
    EXPECT_ERROR(nanonn_model_train_step(m, X8, 32, Y8, 8, &l), NANONN_STATUS_BATCH_TOO_LARGE,
                 "batch of 8 samples is larger than the planned maximum of 3");
    for (i = 0; i < 100; i++) {
        OK(nanonn_model_train_step(m, X8 + (i % 2) * 12, 12, Y8 + (i % 2) * 3, 3, &l));
    }
    OK(nanonn_model_predict(m, X8, 32, out, 24));
    OK(nanonn_model_evaluate(m, X8, 32, Y8, 8, &loss, &acc));
    for (i = 0; i < 8; i++) {
        size_t best = 0;
        for (j = 1; j < 3; j++)
            if (out[i * 3 + j] > out[i * 3 + best]) best = j;
        hits += best == Y8[i];
        expected += softmax_ce(out + i * 3, 3, Y8[i]) / 8.0;
    }
    EXPECT(fabs(loss - expected) < 1e-5);
    EXPECT(acc == (float)hits / 8.0f);
    EXPECT(acc >= 0.75f);
    nanonn_model_free(m);
}

static void test_bad_values(void) {
    NanonnModel *m = small_model(NANONN_OPTIMIZER_ADAM, 0.01f, 8, 1);
    float x[33], loss = -1.0f, out[24], p[128];
    uint32_t y[8];
    size_t n = param_count(m);
    EXPECT(n <= 128);
    if (n > 128) return;
    memcpy(x, X8, sizeof X8);
    memcpy(y, Y8, sizeof Y8);
    x[5] = NAN;
    EXPECT_ERROR(nanonn_model_train_step(m, x, 32, y, 8, &loss), NANONN_STATUS_NON_FINITE,
                 "input contains a NaN or infinity at element 5");
    EXPECT_STATUS(nanonn_model_predict(m, x, 32, out, 24), NANONN_STATUS_NON_FINITE);
    x[5] = X8[5];
    y[6] = 3;
    EXPECT_ERROR(nanonn_model_train_step(m, x, 32, y, 8, &loss), NANONN_STATUS_LABEL_OUT_OF_RANGE,
                 "label 3 of sample 6 is out of range for 3 classes");
    EXPECT(loss == -1.0f);
    /* A float pointer that is not 4-byte aligned. */
    memcpy((char *)x + 1, X8, 4 * sizeof(float));
    EXPECT_STATUS(nanonn_model_train_step(m, (const float *)(const void *)((const char *)x + 1), 4,
                                          Y8, 1, &loss),
                  NANONN_STATUS_MISALIGNED);
    /* Output overlapping the input. */
    memcpy(x, X8, sizeof X8);
    memset(out, 0, sizeof out);
    EXPECT_ERROR(nanonn_model_predict(m, x, 12, x + 4, 9), NANONN_STATUS_INVALID_ARGUMENT,
                 "overlaps");
    OK(nanonn_model_get_params(m, p, n));
    p[3] = INFINITY;
    EXPECT_STATUS(nanonn_model_set_params(m, p, n), NANONN_STATUS_NON_FINITE);
    nanonn_model_free(m);
}

static void test_message_is_per_call(void) {
    NanonnNetBuilder *b = small_mlp();
    size_t n;
    EXPECT_STATUS(nanonn_net_builder_add_dense(b, 1, 1), NANONN_STATUS_SHAPE_MISMATCH);
    EXPECT(nanonn_last_error_message()[0] != '\0');
    /* The getters do not change it. */
    (void)nanonn_status_name(0);
    (void)nanonn_version();
    EXPECT(strstr(nanonn_last_error_message(), "Dense") != NULL);
    OK(nanonn_net_builder_layer_count(b, &n));
    EXPECT(strcmp(nanonn_last_error_message(), "") == 0);
    nanonn_net_builder_free(b);
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    long n;
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fclose(f);
    return n;
}

static void test_save_and_load(void) {
    NanonnModel *a = small_model(NANONN_OPTIMIZER_ADAM, 0.02f, 8, 3), *b = NULL, *c = NULL;
    NanonnNetBuilder *from_file = NULL, *other = NULL;
    NanonnOptimizerConfig adam = optimizer(NANONN_OPTIMIZER_ADAM, 0.02f);
    NanonnOptimizerConfig sgd = optimizer(NANONN_OPTIMIZER_SGD, 0.02f);
    static const size_t input[] = {4};
    float pa[24], pb[24], l;
    size_t bytes = 0, written = 0, ckpt = 0;
    uint8_t *buf;
    OK(nanonn_model_set_cosine_lr(a, 0.02f, 0.0f, 40));
    train(a, 10, &l);
    OK(nanonn_model_save(a, "weights.nnf", NANONN_FILE_KIND_WEIGHTS));
    OK(nanonn_model_save(a, "checkpoint.nnf", NANONN_FILE_KIND_CHECKPOINT));
    OK(nanonn_model_save_size(a, NANONN_FILE_KIND_WEIGHTS, &bytes));
    OK(nanonn_model_save_size(a, NANONN_FILE_KIND_CHECKPOINT, &ckpt));
    EXPECT(file_size("weights.nnf") == (long)bytes && file_size("checkpoint.nnf") == (long)ckpt);
    EXPECT(ckpt > bytes);

    /* The file alone rebuilds the network; its weights predict the same. */
    OK(nanonn_net_builder_from_file("weights.nnf", &from_file));
    OK(nanonn_model_new(from_file, &SOFTMAX_CE, &adam, 8, 99, &b));
    EXPECT(!same_params(a, b));
    OK(nanonn_model_load(b, "weights.nnf", NANONN_FILE_KIND_WEIGHTS));
    EXPECT(same_params(a, b));
    OK(nanonn_model_predict(a, X8, 32, pa, 24));
    OK(nanonn_model_predict(b, X8, 32, pb, 24));
    EXPECT(memcmp(pa, pb, sizeof pa) == 0);
    EXPECT_ERROR(nanonn_model_load(b, "weights.nnf", NANONN_FILE_KIND_CHECKPOINT),
                 NANONN_STATUS_FILE_MISMATCH, "checkpoint");

    /* A checkpoint resumes bit for bit, schedule included. */
    OK(nanonn_model_set_cosine_lr(b, 0.02f, 0.0f, 40));
    OK(nanonn_model_load(b, "checkpoint.nnf", NANONN_FILE_KIND_CHECKPOINT));
    EXPECT(info_lr(a) == info_lr(b));
    train(a, 10, &l);
    train(b, 10, &l);
    EXPECT(same_params(a, b));

    /* Into a buffer, and back. */
    buf = malloc(ckpt);
    if (buf) {
        EXPECT_ERROR(nanonn_model_save_to_buffer(a, NANONN_FILE_KIND_CHECKPOINT, buf, ckpt - 1,
                                                 &written),
                     NANONN_STATUS_BUFFER_TOO_SMALL, "");
        EXPECT(written == 0);
        OK(nanonn_model_save_to_buffer(a, NANONN_FILE_KIND_CHECKPOINT, buf, ckpt, &written));
        EXPECT(written == ckpt);
        train(b, 1, &l);
        OK(nanonn_model_load_from_buffer(b, buf, written, NANONN_FILE_KIND_CHECKPOINT));
        EXPECT(same_params(a, b));
        OK(nanonn_net_builder_from_buffer(buf, written, &other));
        nanonn_net_builder_free(other);
        other = NULL;
        free(buf);
    }

    /* Another optimizer cannot resume this checkpoint, but can take its weights. */
    OK(nanonn_model_new(from_file, &SOFTMAX_CE, &sgd, 8, 1, &c));
    EXPECT_ERROR(nanonn_model_load(c, "checkpoint.nnf", NANONN_FILE_KIND_CHECKPOINT),
                 NANONN_STATUS_FILE_MISMATCH, "another optimizer");
    OK(nanonn_model_load(c, "checkpoint.nnf", NANONN_FILE_KIND_WEIGHTS));
    nanonn_model_free(c);
    c = NULL;

    /* Another architecture cannot take the weights. */
    other = builder(input, 1);
    OK(nanonn_net_builder_add_dense(other, 4, 3));
    OK(nanonn_model_new(other, &SOFTMAX_CE, &adam, 8, 1, &c));
    EXPECT_ERROR(nanonn_model_load(c, "weights.nnf", NANONN_FILE_KIND_WEIGHTS),
                 NANONN_STATUS_FILE_MISMATCH, "layers differ");
    EXPECT_ERROR(nanonn_model_load(c, "does-not-exist.nnf", NANONN_FILE_KIND_WEIGHTS),
                 NANONN_STATUS_IO, "does-not-exist.nnf");
    EXPECT_ERROR(nanonn_model_save(c, "no-such-dir/x.nnf", NANONN_FILE_KIND_WEIGHTS),
                 NANONN_STATUS_IO, "no-such-dir");
    nanonn_model_free(a);
    nanonn_model_free(b);
    nanonn_model_free(c);
    nanonn_net_builder_free(from_file);
    nanonn_net_builder_free(other);
    remove("weights.nnf");
    remove("checkpoint.nnf");
}

static void test_corrupt_model_file(void) {
    NanonnModel *m = small_model(NANONN_OPTIMIZER_ADAM, 0.02f, 8, 3);
    NanonnNetBuilder *b = NULL;
    float before[128], after[128];
    size_t bytes = 0, written = 0, n = param_count(m);
    uint8_t *buf;
    FILE *f;
    EXPECT(n <= 128);
    if (n > 128) return;
    OK(nanonn_model_save_size(m, NANONN_FILE_KIND_WEIGHTS, &bytes));
    buf = malloc(bytes);
    if (!buf) return;
    OK(nanonn_model_save_to_buffer(m, NANONN_FILE_KIND_WEIGHTS, buf, bytes, &written));
    OK(nanonn_model_get_params(m, before, n));
    /* One flipped bit in the weights. */
    buf[bytes - 5] ^= 0x10;
    EXPECT_ERROR(nanonn_model_load_from_buffer(m, buf, bytes, NANONN_FILE_KIND_WEIGHTS),
                 NANONN_STATUS_FILE_INVALID, "corrupted");
    EXPECT_STATUS(nanonn_net_builder_from_buffer(buf, bytes, &b), NANONN_STATUS_FILE_INVALID);
    buf[bytes - 5] ^= 0x10;
    /* Cut short. */
    EXPECT_ERROR(nanonn_model_load_from_buffer(m, buf, bytes / 2, NANONN_FILE_KIND_WEIGHTS),
                 NANONN_STATUS_FILE_INVALID, "truncated");
    EXPECT_STATUS(nanonn_model_load_from_buffer(m, buf, 0, NANONN_FILE_KIND_WEIGHTS),
                  NANONN_STATUS_FILE_INVALID);
    EXPECT_STATUS(nanonn_model_load_from_buffer(m, NULL, 0, NANONN_FILE_KIND_WEIGHTS),
                  NANONN_STATUS_FILE_INVALID);
    /* Not a model file at all, on disk. */
    f = fopen("garbage.nnf", "wb");
    if (f) {
        fputs("this is not a nanonn model file, just some text", f);
        fclose(f);
    }
    EXPECT_ERROR(nanonn_model_load(m, "garbage.nnf", NANONN_FILE_KIND_WEIGHTS),
                 NANONN_STATUS_FILE_INVALID, "garbage.nnf: not a nanonn model file");
    EXPECT_STATUS(nanonn_net_builder_from_file("garbage.nnf", &b), NANONN_STATUS_FILE_INVALID);
    /* A damaged copy on disk. */
    buf[100] ^= 0xFF;
    f = fopen("damaged.nnf", "wb");
    if (f) {
        fwrite(buf, 1, bytes, f);
        fclose(f);
    }
    EXPECT_STATUS(nanonn_model_load(m, "damaged.nnf", NANONN_FILE_KIND_WEIGHTS),
                  NANONN_STATUS_FILE_INVALID);
    EXPECT(b == NULL);
    /* Nothing was loaded. */
    OK(nanonn_model_get_params(m, after, n));
    EXPECT(memcmp(before, after, n * sizeof *before) == 0);
    remove("garbage.nnf");
    remove("damaged.nnf");
    free(buf);
    nanonn_model_free(m);
}

/* ---------------------------------------------------------------------------------------- */

struct test {
    const char *name;
    void (*run)(void);
};

int main(void) {
    static const struct test tests[] = {
        {"version", test_version},
        {"null_handles", test_null_handles},
        {"null_buffers", test_null_buffers},
        {"wrong_lengths", test_wrong_lengths},
        {"invalid_enums", test_invalid_enums},
        {"caller_memory", test_caller_memory},
        {"layers_that_do_not_chain", test_layers_that_do_not_chain},
        {"every_layer_kind", test_every_layer_kind},
        {"every_activation", test_every_activation},
        {"every_loss_and_optimizer", test_every_loss_and_optimizer},
        {"schedules", test_schedules},
        {"seed", test_seed},
        {"predict_and_evaluate", test_predict_and_evaluate},
        {"bad_values", test_bad_values},
        {"message_is_per_call", test_message_is_per_call},
        {"save_and_load", test_save_and_load},
        {"corrupt_model_file", test_corrupt_model_file},
    };
    size_t i, passed = 0, failed = 0;
    for (i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        test_failed = 0;
        tests[i].run();
        printf("%s %s\n", test_failed ? "FAIL" : "ok  ", tests[i].name);
        if (test_failed) failed++;
        else passed++;
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
