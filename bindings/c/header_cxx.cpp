// The header compiles as C++17 (-Wall -Wextra -Werror -pedantic) and links against the C
// library: build a small net, train it a little, and check a status from C++.
#include "nanonn.h"

#include <cstdio>
#include <memory>
#include <type_traits>

namespace {

struct BuilderFree {
    void operator()(NanonnNetBuilder *b) const { nanonn_net_builder_free(b); }
};
struct ModelFree {
    void operator()(NanonnModel *m) const { nanonn_model_free(m); }
};

bool ok(NanonnStatus s, const char *what) {
    if (s != NANONN_STATUS_OK) {
        std::fprintf(stderr, "%s: %s: %s\n", what, nanonn_status_name(s),
                     nanonn_last_error_message());
    }
    return s == NANONN_STATUS_OK;
}

// Enum arguments are uint32_t in C; in C++ the enums have that underlying type.
static_assert(std::is_same<std::underlying_type<NanonnActivation>::type, uint32_t>::value,
              "NanonnActivation is a uint32_t enum in C++");
static_assert(sizeof(NanonnStatus) == sizeof(int), "NanonnStatus is a C enum");

}  // namespace

int main() {
    const size_t input[] = {2};
    NanonnNetBuilder *raw_builder = nullptr;
    if (!ok(nanonn_net_builder_new(input, 1, &raw_builder), "builder")) return 1;
    std::unique_ptr<NanonnNetBuilder, BuilderFree> builder(raw_builder);
    if (!ok(nanonn_net_builder_add_dense(builder.get(), 2, 4), "dense") ||
        !ok(nanonn_net_builder_add_activation(builder.get(), NANONN_ACTIVATION_TANH, 0.0f),
            "tanh") ||
        !ok(nanonn_net_builder_add_dense(builder.get(), 4, 1), "dense")) {
        return 1;
    }
    NanonnLossConfig loss{NANONN_LOSS_MSE, 0.0f};
    NanonnOptimizerConfig opt{};
    NanonnModel *raw_model = nullptr;
    if (!ok(nanonn_optimizer_config_default(NANONN_OPTIMIZER_ADAM, 0.05f, &opt), "config") ||
        !ok(nanonn_model_new(builder.get(), &loss, &opt, 4, 1, &raw_model), "model")) {
        return 1;
    }
    std::unique_ptr<NanonnModel, ModelFree> model(raw_model);
    const float x[] = {0, 0, 0, 1, 1, 0, 1, 1};
    const float y[] = {0, 1, 1, 0};
    float first = 0.0f, last = 0.0f;
    for (int i = 0; i < 300; i++) {
        if (!ok(nanonn_model_train_step_values(model.get(), x, 8, y, 4, &last), "train")) {
            return 1;
        }
        if (i == 0) first = last;
    }
    // A wrong length is a status, not an exception or a crash.
    float unused = -1.0f;
    if (nanonn_model_train_step_values(model.get(), x, 7, y, 4, &unused) !=
            NANONN_STATUS_LENGTH_MISMATCH ||
        unused != -1.0f) {
        std::fprintf(stderr, "a wrong length was not reported\n");
        return 1;
    }
    std::printf("C++17: nanonn %s, XOR loss %.4f -> %.4f\n", nanonn_version(), first, last);
    return last < first / 4 ? 0 : 1;
}
