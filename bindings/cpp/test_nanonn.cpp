// Tests of nanonn.hpp, the C++17 wrapper: RAII and moves, errors as exceptions with the C
// status and message, training (one call or forward/backward/apply_grad), caller memory,
// parameters and gradients against hand-computed values, schedules, model files. Run under
// valgrind in CI. Writes model files to the current directory.
//
// Prints one line per test and "N passed, M failed" last; exits non-zero on any failure.
#include "nanonn.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

namespace {

int failures = 0;
bool test_failed = false;

#define EXPECT(cond)                                                               \
    do {                                                                           \
        if (!(cond)) {                                                             \
            test_failed = true;                                                    \
            std::fprintf(stderr, "  %s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
        }                                                                          \
    } while (0)

// `body` must throw nanonn::Error with `status` and a message containing `needle`.
void expect_error(const char *what, NanonnStatus status, const char *needle,
                  const std::function<void()> &body, int line) {
    try {
        body();
    } catch (const nanonn::Error &e) {
        bool ok = e.status() == status && e.message().find(needle) != std::string::npos &&
                  std::string(e.what()).find(e.status_name()) == 0;
        if (!ok) {
            test_failed = true;
            std::fprintf(stderr, "  line %d: %s threw %s (\"%s\"), expected %s with \"%s\"\n", line,
                         what, e.status_name(), e.message().c_str(),
                         nanonn_status_name(static_cast<uint32_t>(status)), needle);
        }
        return;
    }
    test_failed = true;
    std::fprintf(stderr, "  line %d: %s did not throw\n", line, what);
}
#define EXPECT_ERROR(status, needle, ...) \
    expect_error(#__VA_ARGS__, status, needle, [&]() { __VA_ARGS__; }, __LINE__)

void run(const char *name, void (*test)()) {
    test_failed = false;
    try {
        test();
    } catch (const std::exception &e) {
        test_failed = true;
        std::fprintf(stderr, "  unexpected exception: %s\n", e.what());
    }
    std::printf("%s %s\n", test_failed ? "FAIL" : "ok  ", name);
    if (test_failed) failures++;
}

// RAII types are move-only, and moving never throws.
static_assert(!std::is_copy_constructible_v<nanonn::Model>, "Model is move-only");
static_assert(!std::is_copy_assignable_v<nanonn::Model>, "Model is move-only");
static_assert(std::is_nothrow_move_constructible_v<nanonn::Model>, "noexcept move");
static_assert(std::is_nothrow_move_assignable_v<nanonn::Model>, "noexcept move");
static_assert(!std::is_copy_constructible_v<nanonn::NetBuilder>, "NetBuilder is move-only");
static_assert(std::is_nothrow_move_constructible_v<nanonn::NetBuilder>, "noexcept move");
static_assert(std::is_base_of_v<std::runtime_error, nanonn::Error>, "Error is an exception");

const std::vector<float> XOR_X = {0, 0, 0, 1, 1, 0, 1, 1};
const std::vector<uint32_t> XOR_Y = {0, 1, 1, 0};

nanonn::NetBuilder xor_net() {
    nanonn::NetBuilder net({2});
    net.dense(2, 8).tanh().dense(8, 2);
    return net;
}

nanonn::Model xor_model(std::uint64_t seed, float lr = 0.05f) {
    return nanonn::Model(xor_net(), nanonn::Loss::softmax_cross_entropy(),
                         nanonn::Optimizer::adam(lr), 4, seed);
}

void test_version() {
    std::string expected = std::to_string(NANONN_VERSION_MAJOR) + "." +
                           std::to_string(NANONN_VERSION_MINOR) + "." +
                           std::to_string(NANONN_VERSION_PATCH);
    EXPECT(nanonn::version() == expected);
}

void test_builder_shapes_and_errors() {
    nanonn::NetBuilder net({28, 28, 1});
    NanonnConv2dConfig conv{};
    conv.in_channels = 1;
    conv.out_channels = 4;
    conv.kernel_h = conv.kernel_w = 3;
    conv.padding = NANONN_PADDING_SAME;
    NanonnPool2dConfig pool{};
    pool.kernel_h = pool.kernel_w = 2;
    net.conv2d(conv).relu().max_pool2d(pool);
    EXPECT((net.output_shape() == std::vector<std::size_t>{14, 14, 4}));
    net.flatten().dense(14 * 14 * 4, 10);
    EXPECT(net.layer_count() == 5);
    EXPECT((net.output_shape() == std::vector<std::size_t>{10}));
    // A layer that does not fit throws at once and leaves the builder as it was.
    EXPECT_ERROR(NANONN_STATUS_SHAPE_MISMATCH, "layer 5 (Dense)", net.dense(11, 3));
    EXPECT(net.layer_count() == 5);
    EXPECT_ERROR(NANONN_STATUS_INVALID_ENUM, "99",
                 net.activation(static_cast<nanonn::Activation>(99)));
    EXPECT_ERROR(NANONN_STATUS_INVALID_ARGUMENT, "dimension", nanonn::NetBuilder({0}));
    EXPECT_ERROR(NANONN_STATUS_INVALID_ARGUMENT, "1 to 3", nanonn::NetBuilder({1, 2, 3, 4}));
}

void test_moves_leave_an_empty_handle() {
    nanonn::Model a = xor_model(1);
    const NanonnModel *raw = a.get();
    nanonn::Model b(std::move(a));
    EXPECT(a.get() == nullptr && b.get() == raw);
    // Using a moved-from object is an error, not undefined behaviour.
    EXPECT_ERROR(NANONN_STATUS_NULL_POINTER, "model is NULL", a.info());
    nanonn::Model c = xor_model(2);
    c = std::move(b);  // c's own model is freed (valgrind checks)
    EXPECT(c.get() == raw && b.get() == nullptr);
    nanonn::NetBuilder n1 = xor_net();
    nanonn::NetBuilder n2 = std::move(n1);
    EXPECT(n1.get() == nullptr && n2.layer_count() == 3);
    NanonnNetBuilder *released = n2.release();
    EXPECT(n2.get() == nullptr && released != nullptr);
    nanonn_net_builder_free(released);
}

void test_training_learns_xor() {
    nanonn::Model model = xor_model(3);
    float first = model.train_step(XOR_X, XOR_Y), last = first;
    for (int i = 0; i < 300; i++) last = model.train_step(XOR_X, XOR_Y);
    EXPECT(last < first / 10);
    nanonn::Evaluation e = model.evaluate(XOR_X, XOR_Y);
    EXPECT(e.accuracy == 1.0f);
    EXPECT(model.steps() == 301);
    std::vector<float> p = model.predict(XOR_X);
    EXPECT(p.size() == 8);
    for (std::size_t i = 0; i < 4; i++) EXPECT((p[2 * i + 1] > p[2 * i]) == (XOR_Y[i] == 1));
}

void test_parts_equal_one_step() {
    nanonn::Model a = xor_model(7), b = xor_model(7);
    for (int i = 0; i < 10; i++) {
        float la = a.train_step(XOR_X, XOR_Y);
        std::vector<float> out = b.forward(XOR_X);
        EXPECT(out.size() == 8);
        float lb = b.backward(XOR_Y);
        b.apply_grad();
        EXPECT(std::memcmp(&la, &lb, sizeof la) == 0);
    }
    EXPECT(a.params() == b.params());
}

void test_gradient_of_the_last_bias() {
    // Softmax cross-entropy: dL/db of the last layer = mean over the batch of p - onehot.
    nanonn::Model m = xor_model(5);
    std::array<float, 8> logits{};
    m.forward(XOR_X, logits);
    float loss = m.backward(XOR_Y);
    std::vector<float> g = m.grads();
    auto [first, count] = m.layer_params(2);
    EXPECT(first == 2 * 8 + 8 && count == 8 * 2 + 2);
    EXPECT(m.layer_params(1).second == 0);
    double expected[2] = {0, 0}, mean_loss = 0;
    for (std::size_t i = 0; i < 4; i++) {
        double a = logits[2 * i], b = logits[2 * i + 1];
        double z = std::exp(a) + std::exp(b);
        double p[2] = {std::exp(a) / z, std::exp(b) / z};
        for (std::size_t k = 0; k < 2; k++) expected[k] += (p[k] - (XOR_Y[i] == k ? 1 : 0)) / 4;
        mean_loss -= std::log(p[XOR_Y[i]]) / 4;
    }
    EXPECT(std::fabs(loss - mean_loss) < 1e-5);
    EXPECT(std::fabs(g[first + count - 2] - expected[0]) < 1e-5);
    EXPECT(std::fabs(g[first + count - 1] - expected[1]) < 1e-5);
}

void test_one_hot_values_and_regression() {
    nanonn::Model a = xor_model(9), b = xor_model(9);
    const std::vector<float> one_hot = {1, 0, 0, 1, 0, 1, 1, 0};
    float la = a.train_step(XOR_X, XOR_Y), lb = b.train_step_values(XOR_X, one_hot);
    EXPECT(std::fabs(la - lb) < 1e-6f);
    nanonn::NetBuilder net({1});
    net.dense(1, 1);
    nanonn::Model line(net, nanonn::Loss::mse(), nanonn::Optimizer::sgd(0.1f), 8, 1);
    const float xs[] = {0, 1, 2, 3}, ys[] = {1, 3, 5, 7};  // y = 2x + 1
    for (int i = 0; i < 2000; i++) line.train_step_values(xs, ys);
    std::vector<float> w = line.params();
    EXPECT(std::fabs(w[0] - 2.0f) < 1e-3f && std::fabs(w[1] - 1.0f) < 1e-3f);
    EXPECT(line.evaluate_values(xs, ys) < 1e-5f);
}

void test_bad_input_throws_and_changes_nothing() {
    nanonn::Model m = xor_model(4);
    std::vector<float> before = m.params();
    EXPECT_ERROR(NANONN_STATUS_INVALID_STATE, "forward", m.backward(XOR_Y));
    EXPECT_ERROR(NANONN_STATUS_LENGTH_MISMATCH, "x has 7 elements",
                 m.train_step(nanonn::Span<const float>(XOR_X.data(), 7), XOR_Y));
    EXPECT_ERROR(NANONN_STATUS_LENGTH_MISMATCH, "labels", m.train_step(XOR_X, std::vector<uint32_t>{0, 1}));
    EXPECT_ERROR(NANONN_STATUS_LABEL_OUT_OF_RANGE, "2", m.train_step(XOR_X, std::vector<uint32_t>{0, 1, 2, 0}));
    EXPECT_ERROR(NANONN_STATUS_BATCH_TOO_LARGE, "", m.train_step(std::vector<float>(10, 0.f),
                                                               std::vector<uint32_t>(5, 0)));
    EXPECT_ERROR(NANONN_STATUS_NON_FINITE, "", m.train_step(std::vector<float>{NAN, 0.f}, std::vector<uint32_t>{0}));
    EXPECT_ERROR(NANONN_STATUS_LENGTH_MISMATCH, "x has 0", m.predict(std::vector<float>{}));
    EXPECT_ERROR(NANONN_STATUS_LENGTH_MISMATCH, "", m.set_params(std::vector<float>{1.f, 2.f}));
    std::vector<float> wrong(3);
    EXPECT_ERROR(NANONN_STATUS_LENGTH_MISMATCH, "out", m.forward(XOR_X, wrong));
    EXPECT_ERROR(NANONN_STATUS_INVALID_ARGUMENT, "layer 3", m.layer_params(3));
    EXPECT_ERROR(NANONN_STATUS_INVALID_ARGUMENT, "",
                 nanonn::Model(xor_net(), nanonn::Loss::mse(), nanonn::Optimizer::adam(-1.f), 4));
    EXPECT_ERROR(NANONN_STATUS_INVALID_ARGUMENT, "",
                 nanonn::Model(xor_net(), nanonn::Loss::mse(), nanonn::Optimizer::adam(), 0));
    EXPECT_ERROR(NANONN_STATUS_INVALID_ENUM, "",
                 nanonn::Optimizer::of_kind(42, 0.1f));
    EXPECT(m.params() == before);
    EXPECT(m.steps() == 0);
}

void test_caller_memory_trains_like_library_memory() {
    nanonn::NetBuilder net = xor_net();
    auto loss = nanonn::Loss::softmax_cross_entropy();
    auto opt = nanonn::Optimizer::adam(0.05f).with_weight_decay(1e-3f);
    std::size_t bytes = nanonn::Model::bytes_needed(net, loss, opt, 4);
    std::vector<unsigned char> block(bytes + 3);
    EXPECT_ERROR(NANONN_STATUS_BUFFER_TOO_SMALL, "",
                 nanonn::Model(net, loss, opt, 4, 11, block.data() + 3, bytes - 1));
    nanonn::Model in_place(net, loss, opt, 4, 11, block.data() + 3, bytes);
    nanonn::Model owned(net, loss, opt, 4, 11);
    for (int i = 0; i < 50; i++) {
        float a = in_place.train_step(XOR_X, XOR_Y), b = owned.train_step(XOR_X, XOR_Y);
        EXPECT(std::memcmp(&a, &b, sizeof a) == 0);
    }
    EXPECT(in_place.params() == owned.params());
}

void test_schedule_sets_the_rate() {
    nanonn::Model m = xor_model(2, 0.1f);
    m.set_cosine_lr(0.1f, 0.0f, 10);
    for (int i = 0; i < 5; i++) m.train_step(XOR_X, XOR_Y);
    // Cosine: 0.1 * (1 + cos(pi * 5 / 10)) / 2 = 0.05 for the sixth step.
    EXPECT(std::fabs(m.info().lr - 0.05f) < 1e-6f);
    m.set_lr(0.01f);
    EXPECT(m.info().lr == 0.01f);
    const std::uint64_t milestones[] = {2, 4};
    m.set_multi_step_lr(0.1f, milestones, 0.5f);
    EXPECT(std::fabs(m.info().lr - 0.025f) < 1e-7f);  // step 5: two milestones passed
    EXPECT_ERROR(NANONN_STATUS_INVALID_ARGUMENT, "", m.set_multi_step_lr(0.1f, std::vector<std::uint64_t>{4, 2}, 0.5f));
}

void test_model_files_round_trip() {
    nanonn::Model m = xor_model(6);
    for (int i = 0; i < 20; i++) m.train_step(XOR_X, XOR_Y);
    const std::string path = "test_nanonn_cpp.nnf";
    m.save(path);
    nanonn::NetBuilder from_file = nanonn::NetBuilder::from_file(path);
    EXPECT(from_file.layer_count() == 3);
    nanonn::Model loaded(from_file, nanonn::Loss::softmax_cross_entropy(),
                         nanonn::Optimizer::adam(0.05f), 4, 99);
    loaded.load(path);
    EXPECT(loaded.params() == m.params());
    std::remove(path.c_str());
    // A checkpoint in memory resumes training bit for bit.
    std::vector<uint8_t> checkpoint = m.save_to_buffer(nanonn::FileKind::Checkpoint);
    nanonn::Model resumed(nanonn::NetBuilder::from_buffer(checkpoint),
                          nanonn::Loss::softmax_cross_entropy(), nanonn::Optimizer::adam(0.05f),
                          4, 1);
    resumed.load_from_buffer(checkpoint, nanonn::FileKind::Checkpoint);
    EXPECT(resumed.steps() == 20);
    for (int i = 0; i < 5; i++) {
        float a = m.train_step(XOR_X, XOR_Y), b = resumed.train_step(XOR_X, XOR_Y);
        EXPECT(std::memcmp(&a, &b, sizeof a) == 0);
    }
    checkpoint[checkpoint.size() / 2] ^= 0x40;
    EXPECT_ERROR(NANONN_STATUS_FILE_INVALID, "",
                 resumed.load_from_buffer(checkpoint, nanonn::FileKind::Checkpoint));
    EXPECT_ERROR(NANONN_STATUS_IO, "no_such_dir", m.load("no_such_dir/model.nnf"));
}

void test_spans() {
    const float c_array[] = {1, 2, 3};
    std::array<float, 3> std_array{4, 5, 6};
    std::vector<float> vec{7, 8};
    nanonn::Span<const float> a(c_array), b(std_array), c(vec), e(vec.data(), 1);
    EXPECT(a.size() == 3 && a[2] == 3 && b[0] == 4 && c.size() == 2 && e.size() == 1);
    nanonn::Span<float> writable(vec);
    writable[0] = 70;
    EXPECT(vec[0] == 70);
    EXPECT(nanonn::Span<const float>().empty() && nanonn::Span<const float>().c_data() != nullptr);
    static_assert(!std::is_constructible_v<nanonn::Span<float>, const std::vector<float> &>,
                  "no writable span of a const vector");
    static_assert(!std::is_constructible_v<nanonn::Span<float>, std::vector<float> &&>,
                  "no writable span of a temporary");
    static_assert(!std::is_constructible_v<nanonn::Span<const float>, std::vector<double> &>,
                  "no span of another element type");
}

}  // namespace

int main() {
    run("version", test_version);
    run("builder_shapes_and_errors", test_builder_shapes_and_errors);
    run("moves_leave_an_empty_handle", test_moves_leave_an_empty_handle);
    run("training_learns_xor", test_training_learns_xor);
    run("parts_equal_one_step", test_parts_equal_one_step);
    run("gradient_of_the_last_bias", test_gradient_of_the_last_bias);
    run("one_hot_values_and_regression", test_one_hot_values_and_regression);
    run("bad_input_throws_and_changes_nothing", test_bad_input_throws_and_changes_nothing);
    run("caller_memory_trains_like_library_memory", test_caller_memory_trains_like_library_memory);
    run("schedule_sets_the_rate", test_schedule_sets_the_rate);
    run("model_files_round_trip", test_model_files_round_trip);
    run("spans", test_spans);
    std::printf("%d passed, %d failed\n", 12 - failures, failures);
    return failures == 0 ? 0 : 1;
}
