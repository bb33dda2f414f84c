// nanonn.hpp - a header-only C++17 wrapper of nanonn's C API (include/nanonn.h).
//
//   nanonn::NetBuilder net({784});
//   net.dense(784, 400).relu().dense(400, 100).relu().dense(100, 10);
//   nanonn::Model model(net, nanonn::Loss::softmax_cross_entropy(),
//                       nanonn::Optimizer::adam(1e-3f), /*batch=*/64, /*seed=*/31);
//   float loss = model.train_step(x, labels);        // or forward / backward / apply_grad
//   std::vector<float> logits = model.predict(test_x);
//
// - RAII: NetBuilder and Model own their C handle, free it in the destructor, and are
//   move-only. A moved-from object holds no handle; using it throws (NULL_POINTER).
// - Every failure throws nanonn::Error, which carries the C status and nanonn's message.
// - Buffers are nanonn::Span<T> (pointer + length), made implicitly from a std::vector,
//   std::array, a C array, or any contiguous container with data() and size() (a temporary
//   one too, for inputs: `model.train_step(x, std::vector<uint32_t>{3})`); outputs are
//   returned as std::vector or written into a Span the caller provides.
// - Link with libnanonn (static: also -lpthread -ldl -lm). Needs only C++17.
#ifndef NANONN_HPP
#define NANONN_HPP

#include "nanonn.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace nanonn {

/// A failed nanonn call: the C status, and nanonn's message saying what was wrong.
class Error : public std::runtime_error {
public:
    Error(NanonnStatus status, const std::string &message)
        : std::runtime_error(std::string(nanonn_status_name(static_cast<uint32_t>(status))) +
                             ": " + message),
          status_(status),
          message_(message) {}

    /// The status code (never NANONN_STATUS_OK).
    NanonnStatus status() const noexcept { return status_; }
    /// The status's name, e.g. "NANONN_STATUS_SHAPE_MISMATCH".
    const char *status_name() const noexcept {
        return nanonn_status_name(static_cast<uint32_t>(status_));
    }
    /// nanonn's message alone (what() has the status name in front).
    const std::string &message() const noexcept { return message_; }

private:
    NanonnStatus status_;
    std::string message_;
};

namespace detail {

/// Throws nanonn::Error unless `status` is OK.
inline void check(NanonnStatus status) {
    if (status != NANONN_STATUS_OK) throw Error(status, nanonn_last_error_message());
}

template <class C, class T, class = void>
struct is_container_of : std::false_type {};

template <class C, class T>
struct is_container_of<
    C, T,
    std::void_t<decltype(std::declval<C &>().data()), decltype(std::declval<C &>().size())>>
    : std::bool_constant<
          std::is_convertible_v<decltype(std::declval<C &>().data()), T *> &&
          std::is_same_v<std::remove_cv_t<std::remove_pointer_t<decltype(
                             std::declval<C &>().data())>>,
                         std::remove_cv_t<T>>> {};

}  // namespace detail

/// A view of `size` contiguous elements at `data` (std::span's C++17 stand-in). It does not own
/// the elements; they must outlive the call it is passed to.
template <class T>
class Span {
public:
    constexpr Span() noexcept = default;
    constexpr Span(T *data, std::size_t size) noexcept : data_(data), size_(size) {}
    template <std::size_t N>
    constexpr Span(T (&array)[N]) noexcept : data_(array), size_(N) {}  // NOLINT: implicit
    /// From a contiguous container (a temporary only for a const span, which a call reads
    /// before the temporary ends).
    template <class C,
              class = std::enable_if_t<
                  detail::is_container_of<std::remove_reference_t<C>, T>::value &&
                  !std::is_same_v<std::decay_t<C>, Span> &&
                  (std::is_lvalue_reference_v<C> || std::is_const_v<T>)>>
    constexpr Span(C &&container) noexcept  // NOLINT: implicit, like std::span
        : data_(container.data()), size_(container.size()) {}

    constexpr T *data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T *begin() const noexcept { return data_; }
    constexpr T *end() const noexcept { return data_ + size_; }
    constexpr T &operator[](std::size_t i) const noexcept { return data_[i]; }

    /// The pointer to hand to C: never NULL, so that an empty span gets nanonn's length
    /// message rather than "is NULL".
    T *c_data() const noexcept {
        static std::remove_const_t<T> dummy{};
        return data_ != nullptr ? data_ : &dummy;
    }

private:
    T *data_ = nullptr;
    std::size_t size_ = 0;
};

/// Elementwise activations.
enum class Activation : uint32_t {
    ReLU = NANONN_ACTIVATION_RELU,
    LeakyReLU = NANONN_ACTIVATION_LEAKY_RELU,
    Sigmoid = NANONN_ACTIVATION_SIGMOID,
    Tanh = NANONN_ACTIVATION_TANH,
    Softplus = NANONN_ACTIVATION_SOFTPLUS,
    ELU = NANONN_ACTIVATION_ELU,
    GELU = NANONN_ACTIVATION_GELU,
};

/// What a model file holds.
enum class FileKind : uint32_t {
    /// The network and its weights.
    Weights = NANONN_FILE_KIND_WEIGHTS,
    /// The weights plus the whole training state (resumes training bit for bit).
    Checkpoint = NANONN_FILE_KIND_CHECKPOINT,
};

/// The library's version, "MAJOR.MINOR.PATCH".
inline std::string version() { return nanonn_version(); }

/// A loss (NanonnLossConfig).
struct Loss {
    NanonnLossConfig config;

    static Loss softmax_cross_entropy() noexcept { return {{NANONN_LOSS_SOFTMAX_CROSS_ENTROPY, 0.0f}}; }
    static Loss sigmoid_cross_entropy() noexcept { return {{NANONN_LOSS_SIGMOID_CROSS_ENTROPY, 0.0f}}; }
    static Loss mse() noexcept { return {{NANONN_LOSS_MSE, 0.0f}}; }
    static Loss mae() noexcept { return {{NANONN_LOSS_MAE, 0.0f}}; }
    static Loss huber(float delta = 1.0f) noexcept { return {{NANONN_LOSS_HUBER, delta}}; }
};

/// An optimizer with the library's defaults for its kind (NanonnOptimizerConfig); change the
/// public `config` for anything else.
struct Optimizer {
    NanonnOptimizerConfig config;

    /// The defaults of a NanonnOptimizer kind at rate `lr`.
    static Optimizer of_kind(uint32_t kind, float lr) {
        Optimizer o{};
        detail::check(nanonn_optimizer_config_default(kind, lr, &o.config));
        return o;
    }
    static Optimizer sgd(float lr) { return of_kind(NANONN_OPTIMIZER_SGD, lr); }
    static Optimizer momentum(float lr, float momentum = 0.9f, bool nesterov = false) {
        Optimizer o = of_kind(NANONN_OPTIMIZER_MOMENTUM, lr);
        o.config.momentum = momentum;
        o.config.nesterov = nesterov ? 1u : 0u;
        return o;
    }
    static Optimizer adagrad(float lr) { return of_kind(NANONN_OPTIMIZER_ADAGRAD, lr); }
    static Optimizer rmsprop(float lr) { return of_kind(NANONN_OPTIMIZER_RMSPROP, lr); }
    static Optimizer adadelta(float lr = 1.0f) { return of_kind(NANONN_OPTIMIZER_ADADELTA, lr); }
    static Optimizer adam(float lr = 1e-3f) { return of_kind(NANONN_OPTIMIZER_ADAM, lr); }
    static Optimizer radam(float lr = 1e-3f) { return of_kind(NANONN_OPTIMIZER_RADAM, lr); }

    /// The same optimizer with weight decay (decoupled, as AdamW, unless `decoupled` is false:
    /// then L2 regularisation).
    Optimizer with_weight_decay(float weight_decay, bool decoupled = true) const noexcept {
        Optimizer o = *this;
        o.config.weight_decay_kind =
            decoupled ? NANONN_WEIGHT_DECAY_DECOUPLED : NANONN_WEIGHT_DECAY_L2;
        o.config.weight_decay = weight_decay;
        return o;
    }
};

/// A network under construction (NanonnNetBuilder). Each layer is checked as it is added: a
/// layer that does not fit the previous one throws at once.
class NetBuilder {
public:
    /// Samples of shape `input_dims` (1 to 3 dimensions; images are {H, W, C}).
    explicit NetBuilder(Span<const std::size_t> input_dims) {
        detail::check(nanonn_net_builder_new(input_dims.c_data(), input_dims.size(), &handle_));
    }
    NetBuilder(std::initializer_list<std::size_t> input_dims)
        : NetBuilder(Span<const std::size_t>(input_dims.begin(), input_dims.size())) {}

    /// The network described by the model file at `path`.
    static NetBuilder from_file(const std::string &path) {
        NanonnNetBuilder *h = nullptr;
        detail::check(nanonn_net_builder_from_file(path.c_str(), &h));
        return NetBuilder(h);
    }
    /// The network described by the model file in `bytes`.
    static NetBuilder from_buffer(Span<const uint8_t> bytes) {
        NanonnNetBuilder *h = nullptr;
        detail::check(nanonn_net_builder_from_buffer(bytes.c_data(), bytes.size(), &h));
        return NetBuilder(h);
    }

    NetBuilder(const NetBuilder &) = delete;
    NetBuilder &operator=(const NetBuilder &) = delete;
    NetBuilder(NetBuilder &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    NetBuilder &operator=(NetBuilder &&other) noexcept {
        if (this != &other) {
            nanonn_net_builder_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    ~NetBuilder() { nanonn_net_builder_free(handle_); }

    NetBuilder &dense(std::size_t inputs, std::size_t outputs) {
        return add(nanonn_net_builder_add_dense(handle_, inputs, outputs));
    }
    /// `param` is LeakyReLU's slope or ELU's alpha.
    NetBuilder &activation(Activation a, float param = 0.0f) {
        return add(nanonn_net_builder_add_activation(handle_, static_cast<uint32_t>(a), param));
    }
    NetBuilder &relu() { return activation(Activation::ReLU); }
    NetBuilder &leaky_relu(float slope = 0.2f) { return activation(Activation::LeakyReLU, slope); }
    NetBuilder &sigmoid() { return activation(Activation::Sigmoid); }
    NetBuilder &tanh() { return activation(Activation::Tanh); }
    NetBuilder &softplus() { return activation(Activation::Softplus); }
    NetBuilder &elu(float alpha = 1.0f) { return activation(Activation::ELU, alpha); }
    NetBuilder &gelu() { return activation(Activation::GELU); }
    NetBuilder &conv2d(const NanonnConv2dConfig &config) {
        return add(nanonn_net_builder_add_conv2d(handle_, &config));
    }
    NetBuilder &conv_transpose2d(const NanonnConv2dConfig &config) {
        return add(nanonn_net_builder_add_conv_transpose2d(handle_, &config));
    }
    NetBuilder &max_pool2d(const NanonnPool2dConfig &config) {
        return add(nanonn_net_builder_add_max_pool2d(handle_, &config));
    }
    NetBuilder &avg_pool2d(const NanonnPool2dConfig &config) {
        return add(nanonn_net_builder_add_avg_pool2d(handle_, &config));
    }
    NetBuilder &global_avg_pool2d() {
        return add(nanonn_net_builder_add_global_avg_pool2d(handle_));
    }
    NetBuilder &flatten() { return add(nanonn_net_builder_add_flatten(handle_)); }
    NetBuilder &reshape(Span<const std::size_t> dims) {
        return add(nanonn_net_builder_add_reshape(handle_, dims.c_data(), dims.size()));
    }
    NetBuilder &reshape(std::initializer_list<std::size_t> dims) {
        return reshape(Span<const std::size_t>(dims.begin(), dims.size()));
    }
    NetBuilder &batch_norm(std::size_t channels, float momentum = 0.9f, float eps = 1e-5f) {
        return add(nanonn_net_builder_add_batch_norm(handle_, channels, momentum, eps));
    }
    /// Inverted dropout keeping each value with probability `keep_prob`.
    NetBuilder &dropout(float keep_prob) {
        return add(nanonn_net_builder_add_dropout(handle_, keep_prob));
    }
    NetBuilder &rnn(std::size_t input_size, std::size_t hidden, bool return_sequences = false) {
        return add(nanonn_net_builder_add_rnn(handle_, input_size, hidden, return_sequences ? 1u : 0u));
    }
    NetBuilder &lstm(std::size_t input_size, std::size_t hidden, bool return_sequences = false) {
        return add(nanonn_net_builder_add_lstm(handle_, input_size, hidden, return_sequences ? 1u : 0u));
    }

    std::size_t layer_count() const {
        std::size_t n = 0;
        detail::check(nanonn_net_builder_layer_count(handle_, &n));
        return n;
    }
    /// The per-sample shape after the last layer.
    std::vector<std::size_t> output_shape() const {
        std::array<std::size_t, 3> dims{};
        std::size_t rank = 0;
        detail::check(nanonn_net_builder_output_shape(handle_, dims.data(), dims.size(), &rank));
        return std::vector<std::size_t>(dims.begin(), dims.begin() + static_cast<std::ptrdiff_t>(rank));
    }

    /// The C handle (still owned by this object); NULL after a move.
    const NanonnNetBuilder *get() const noexcept { return handle_; }
    NanonnNetBuilder *get() noexcept { return handle_; }
    /// Gives up ownership: the caller frees the handle with nanonn_net_builder_free.
    NanonnNetBuilder *release() noexcept { return std::exchange(handle_, nullptr); }

private:
    explicit NetBuilder(NanonnNetBuilder *handle) noexcept : handle_(handle) {}
    NetBuilder &add(NanonnStatus status) {
        detail::check(status);
        return *this;
    }

    NanonnNetBuilder *handle_ = nullptr;
};

/// Mean loss and accuracy of an evaluation.
struct Evaluation {
    float loss;
    float accuracy;
};

/// A trainable network with its loss, optimizer and schedule (NanonnModel).
class Model {
public:
    /// A model in memory the library allocates, for batches of at most `batch` samples;
    /// parameters initialised from `seed`.
    Model(const NetBuilder &net, const Loss &loss, const Optimizer &optimizer, std::size_t batch,
          std::uint64_t seed = 0) {
        detail::check(nanonn_model_new(net.get(), &loss.config, &optimizer.config, batch, seed,
                                       &handle_));
    }
    /// Bytes a model in caller memory needs (for a block at any address).
    static std::size_t bytes_needed(const NetBuilder &net, const Loss &loss,
                                    const Optimizer &optimizer, std::size_t batch) {
        std::size_t bytes = 0;
        detail::check(
            nanonn_model_bytes_needed(net.get(), &loss.config, &optimizer.config, batch, &bytes));
        return bytes;
    }
    /// A model living entirely in the caller's `memory` (at least `bytes_needed` bytes, any
    /// alignment), which must outlive the model; no heap is used inside nanonn.
    Model(const NetBuilder &net, const Loss &loss, const Optimizer &optimizer, std::size_t batch,
          std::uint64_t seed, void *memory, std::size_t memory_len) {
        detail::check(nanonn_model_new_in(net.get(), &loss.config, &optimizer.config, batch, seed,
                                          memory, memory_len, &handle_));
    }

    Model(const Model &) = delete;
    Model &operator=(const Model &) = delete;
    Model(Model &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Model &operator=(Model &&other) noexcept {
        if (this != &other) {
            nanonn_model_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    ~Model() { nanonn_model_free(handle_); }

    /// Sizes and training progress.
    NanonnModelInfo info() const {
        NanonnModelInfo i{};
        detail::check(nanonn_model_info(handle_, &i));
        return i;
    }
    std::size_t input_size() const { return info().input_size; }
    std::size_t output_size() const { return info().output_size; }
    std::size_t batch_size() const { return info().batch_size; }
    std::size_t param_count() const { return info().param_count; }
    std::uint64_t steps() const { return info().steps; }

    // --- training -------------------------------------------------------------------------

    /// One step (forward, backward, update) on `x` (n samples) with one label each; the loss.
    float train_step(Span<const float> x, Span<const uint32_t> labels) {
        float loss = 0.0f;
        detail::check(nanonn_model_train_step(handle_, x.c_data(), x.size(), labels.c_data(),
                                              labels.size(), &loss));
        return loss;
    }
    /// One step against target values `y` (one-hot rows, regression targets).
    float train_step_values(Span<const float> x, Span<const float> y) {
        float loss = 0.0f;
        detail::check(nanonn_model_train_step_values(handle_, x.c_data(), x.size(), y.c_data(),
                                                     y.size(), &loss));
        return loss;
    }
    /// The forward pass of a training step (training mode); the predictions.
    std::vector<float> forward(Span<const float> x) {
        std::vector<float> out(outputs_for(x));
        forward(x, out);
        return out;
    }
    /// The forward pass into `out` (exactly n * output_size floats).
    void forward(Span<const float> x, Span<float> out) {
        detail::check(nanonn_model_forward(handle_, x.c_data(), x.size(), out.c_data(), out.size()));
    }
    /// The backward pass against one label per sample of the last forward; the loss.
    float backward(Span<const uint32_t> labels) {
        float loss = 0.0f;
        detail::check(nanonn_model_backward(handle_, labels.c_data(), labels.size(), &loss));
        return loss;
    }
    /// The backward pass against target values; the loss.
    float backward_values(Span<const float> y) {
        float loss = 0.0f;
        detail::check(nanonn_model_backward_values(handle_, y.c_data(), y.size(), &loss));
        return loss;
    }
    /// One optimizer step with the gradients of the last backward.
    void apply_grad() { detail::check(nanonn_model_apply_grad(handle_)); }

    // --- inference ------------------------------------------------------------------------

    /// Predictions (evaluation mode) for any number of samples.
    std::vector<float> predict(Span<const float> x) {
        std::vector<float> out(outputs_for(x));
        predict(x, out);
        return out;
    }
    void predict(Span<const float> x, Span<float> out) {
        detail::check(nanonn_model_predict(handle_, x.c_data(), x.size(), out.c_data(), out.size()));
    }
    /// Mean loss and accuracy over any number of samples with one label each.
    Evaluation evaluate(Span<const float> x, Span<const uint32_t> labels) {
        Evaluation e{0.0f, 0.0f};
        detail::check(nanonn_model_evaluate(handle_, x.c_data(), x.size(), labels.c_data(),
                                            labels.size(), &e.loss, &e.accuracy));
        return e;
    }
    /// Mean loss over any number of samples against target values.
    float evaluate_values(Span<const float> x, Span<const float> y) {
        float loss = 0.0f;
        detail::check(nanonn_model_evaluate_values(handle_, x.c_data(), x.size(), y.c_data(),
                                                   y.size(), &loss));
        return loss;
    }

    // --- parameters -----------------------------------------------------------------------

    /// Every parameter, layer after layer.
    std::vector<float> params() const {
        std::vector<float> out(param_count());
        detail::check(nanonn_model_get_params(handle_, Span<float>(out).c_data(), out.size()));
        return out;
    }
    void set_params(Span<const float> params) {
        detail::check(nanonn_model_set_params(handle_, params.c_data(), params.size()));
    }
    /// The gradients of the last backward, laid out as params().
    std::vector<float> grads() const {
        std::vector<float> out(param_count());
        detail::check(nanonn_model_get_grads(handle_, Span<float>(out).c_data(), out.size()));
        return out;
    }
    /// Where layer `layer`'s parameters are in params(): {first index, count}.
    std::pair<std::size_t, std::size_t> layer_params(std::size_t layer) const {
        std::size_t first = 0, count = 0;
        detail::check(nanonn_model_layer_params(handle_, layer, &first, &count));
        return {first, count};
    }

    // --- learning rate --------------------------------------------------------------------

    void set_lr(float lr) { detail::check(nanonn_model_set_lr(handle_, lr)); }
    void set_step_lr(float base_lr, std::uint64_t step_size, float gamma) {
        detail::check(nanonn_model_set_step_lr(handle_, base_lr, step_size, gamma));
    }
    void set_multi_step_lr(float base_lr, Span<const std::uint64_t> milestones, float gamma) {
        detail::check(nanonn_model_set_multi_step_lr(handle_, base_lr, milestones.data(),
                                                     milestones.size(), gamma));
    }
    void set_exponential_lr(float base_lr, std::uint64_t decay_steps, float decay_rate) {
        detail::check(nanonn_model_set_exponential_lr(handle_, base_lr, decay_steps, decay_rate));
    }
    void set_linear_lr(float base_lr, float final_lr, std::uint64_t decay_steps,
                       std::uint64_t start_step = 0) {
        detail::check(
            nanonn_model_set_linear_lr(handle_, base_lr, final_lr, decay_steps, start_step));
    }
    void set_cyclical_lr(float min_lr, float max_lr, std::uint64_t cycle_steps) {
        detail::check(nanonn_model_set_cyclical_lr(handle_, min_lr, max_lr, cycle_steps));
    }
    void set_cosine_lr(float base_lr, float min_lr, std::uint64_t total_steps) {
        detail::check(nanonn_model_set_cosine_lr(handle_, base_lr, min_lr, total_steps));
    }
    void set_warmup(std::uint64_t warmup_steps, float start_factor = 0.0f) {
        detail::check(nanonn_model_set_warmup(handle_, warmup_steps, start_factor));
    }

    // --- model files ----------------------------------------------------------------------

    void save(const std::string &path, FileKind kind = FileKind::Weights) const {
        detail::check(nanonn_model_save(handle_, path.c_str(), static_cast<uint32_t>(kind)));
    }
    std::vector<uint8_t> save_to_buffer(FileKind kind = FileKind::Weights) const {
        std::size_t size = 0, written = 0;
        detail::check(nanonn_model_save_size(handle_, static_cast<uint32_t>(kind), &size));
        std::vector<uint8_t> out(size);
        detail::check(nanonn_model_save_to_buffer(handle_, static_cast<uint32_t>(kind),
                                                  Span<uint8_t>(out).c_data(), out.size(),
                                                  &written));
        out.resize(written);
        return out;
    }
    void load(const std::string &path, FileKind kind = FileKind::Weights) {
        detail::check(nanonn_model_load(handle_, path.c_str(), static_cast<uint32_t>(kind)));
    }
    void load_from_buffer(Span<const uint8_t> bytes, FileKind kind = FileKind::Weights) {
        detail::check(nanonn_model_load_from_buffer(handle_, bytes.c_data(), bytes.size(),
                                                    static_cast<uint32_t>(kind)));
    }

    /// The C handle (still owned by this object); NULL after a move.
    const NanonnModel *get() const noexcept { return handle_; }
    NanonnModel *get() noexcept { return handle_; }
    /// Gives up ownership: the caller frees the handle with nanonn_model_free.
    NanonnModel *release() noexcept { return std::exchange(handle_, nullptr); }

private:
    /// Output floats for the samples in `x` (a wrong length is left for nanonn to report).
    std::size_t outputs_for(Span<const float> x) const {
        const NanonnModelInfo i = info();
        return x.size() / i.input_size * i.output_size;
    }

    NanonnModel *handle_ = nullptr;
};

}  // namespace nanonn

#endif  // NANONN_HPP
