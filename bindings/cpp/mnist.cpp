// tinynn's MNIST MLP trained from C++ through nanonn.hpp: 784-400-100-10, ReLU, softmax
// cross-entropy, Adam(1e-3). Reads the IDX files itself (gzip'd or not, through zlib), as the C
// example does.
//
//   mnist_cpp [--data DIR] [--epochs N] [--batch-size N] [--lr F] [--schedule cosine|constant]
//             [--seed N]
//
// Prints one line per epoch in tinynn's form and `test_accuracy=0.XXXX` last.
//
// Defaults: 1 epoch, batch 16, Adam's rate annealed from 1e-3 to 0 over the run (cosine), which
// takes one epoch to >= 0.97 test accuracy; tinynn's batch 128 with a constant rate gives about
// 0.964 after one epoch.
#include "nanonn.hpp"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr std::size_t IMAGE_LEN = 784;

struct Args {
    std::string data = "data/mnist";
    long epochs = 1;
    std::size_t batch = 16;
    float lr = 1e-3f;
    bool cosine = true;
    std::uint64_t seed = 31;
};

// Closes a gzFile on every path out.
struct GzCloser {
    void operator()(gzFile f) const { gzclose(f); }
};

std::uint32_t read_u32(gzFile f, const std::string &path) {
    unsigned char b[4];
    if (gzread(f, b, 4) != 4) throw std::runtime_error(path + ": truncated header");
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
           (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
}

// The IDX file DIR/NAME(.gz): `dims` dimensions of 28 after the count (0 for labels, 2 for
// images). Returns the bytes; `count` gets the number of samples.
std::vector<unsigned char> read_idx(const std::string &dir, const std::string &name, int dims,
                                    std::size_t &count) {
    std::string path = dir + "/" + name + ".gz";
    gzFile raw = gzopen(path.c_str(), "rb");
    if (raw == nullptr) {
        path = dir + "/" + name;  // zlib reads plain files as they are
        raw = gzopen(path.c_str(), "rb");
    }
    if (raw == nullptr) throw std::runtime_error("cannot open " + path + "(.gz)");
    std::unique_ptr<gzFile_s, GzCloser> f(raw);
    if (read_u32(raw, path) != static_cast<std::uint32_t>(0x800 + dims + 1)) {
        throw std::runtime_error(path + ": not an IDX file of rank " + std::to_string(dims + 1));
    }
    count = read_u32(raw, path);
    std::size_t sample = 1;
    for (int i = 0; i < dims; i++) {
        if (read_u32(raw, path) != 28) throw std::runtime_error(path + ": expected 28x28 images");
        sample *= 28;
    }
    std::vector<unsigned char> data(count * sample);
    if (gzread(raw, data.data(), static_cast<unsigned>(data.size())) !=
        static_cast<int>(data.size())) {
        throw std::runtime_error(path + ": truncated");
    }
    return data;
}

Args parse_args(int argc, char **argv) {
    Args a;
    for (int i = 1; i < argc; i += 2) {
        std::string flag = argv[i];
        if (i + 1 >= argc) throw std::runtime_error(flag + " needs a value");
        std::string value = argv[i + 1];
        if (flag == "--data") a.data = value;
        else if (flag == "--epochs") a.epochs = std::stol(value);
        else if (flag == "--batch-size") a.batch = std::stoul(value);
        else if (flag == "--lr") a.lr = std::stof(value);
        else if (flag == "--seed") a.seed = std::stoull(value);
        else if (flag == "--schedule" && (value == "cosine" || value == "constant"))
            a.cosine = value == "cosine";
        else throw std::runtime_error("unknown flag " + flag + " " + value);
    }
    if (a.epochs < 0 || a.batch == 0) throw std::runtime_error("bad --epochs or --batch-size");
    return a;
}

}  // namespace

int main(int argc, char **argv) try {
    const Args a = parse_args(argc, argv);
    std::size_t n_train = 0, n_test = 0, n_lab = 0;
    const auto train_img = read_idx(a.data, "train-images-idx3-ubyte", 2, n_train);
    const auto train_lab = read_idx(a.data, "train-labels-idx1-ubyte", 0, n_lab);
    if (n_lab != n_train) throw std::runtime_error("train images and labels differ in count");
    const auto test_img = read_idx(a.data, "t10k-images-idx3-ubyte", 2, n_test);
    const auto test_lab = read_idx(a.data, "t10k-labels-idx1-ubyte", 0, n_lab);
    if (n_lab != n_test) throw std::runtime_error("test images and labels differ in count");

    // Pixels scaled to [0, 1], labels as uint32_t: what the API takes.
    auto scale = [](const std::vector<unsigned char> &img) {
        std::vector<float> x(img.size());
        std::transform(img.begin(), img.end(), x.begin(),
                       [](unsigned char p) { return static_cast<float>(p) / 255.0f; });
        return x;
    };
    const std::vector<float> train_x = scale(train_img), test_x = scale(test_img);
    const std::vector<std::uint32_t> train_y(train_lab.begin(), train_lab.end());
    const std::vector<std::uint32_t> test_y(test_lab.begin(), test_lab.end());

    nanonn::NetBuilder net({IMAGE_LEN});
    net.dense(IMAGE_LEN, 400).relu().dense(400, 100).relu().dense(100, 10);
    nanonn::Model model(net, nanonn::Loss::softmax_cross_entropy(), nanonn::Optimizer::adam(a.lr),
                        a.batch, a.seed);
    const std::size_t steps_per_epoch = (n_train + a.batch - 1) / a.batch;
    if (a.cosine) {
        // The rate follows the step counter: from lr down to 0 at the last step.
        const auto steps = static_cast<std::uint64_t>(a.epochs) * steps_per_epoch;
        model.set_cosine_lr(a.lr, 0.0f, std::max<std::uint64_t>(steps, 1));
    }
    std::fprintf(stderr, "nanonn %s, MNIST MLP 784-400-100-10 from C++: batch %zu, %s lr %g\n",
                 nanonn::version().c_str(), a.batch, a.cosine ? "cosine" : "constant",
                 static_cast<double>(a.lr));

    std::mt19937_64 rng(a.seed);
    std::vector<std::size_t> order(n_train);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::vector<float> xb(a.batch * IMAGE_LEN);
    std::vector<std::uint32_t> yb(a.batch);
    nanonn::Evaluation result{0.0f, 0.0f};
    for (long epoch = 0; epoch < a.epochs; epoch++) {
        const auto start = std::chrono::steady_clock::now();
        std::shuffle(order.begin(), order.end(), rng);
        for (std::size_t first = 0; first < n_train; first += a.batch) {
            const std::size_t b = std::min(a.batch, n_train - first);
            for (std::size_t i = 0; i < b; i++) {
                const std::size_t s = order[first + i];
                std::copy_n(train_x.begin() + static_cast<std::ptrdiff_t>(s * IMAGE_LEN),
                            IMAGE_LEN, xb.begin() + static_cast<std::ptrdiff_t>(i * IMAGE_LEN));
                yb[i] = train_y[s];
            }
            model.train_step(nanonn::Span<const float>(xb.data(), b * IMAGE_LEN),
                             nanonn::Span<const std::uint32_t>(yb.data(), b));
        }
        const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
        result = model.evaluate(test_x, test_y);
        std::printf(
            "Epoch %ld {total_num: %zu, hit_num: %zu, accuracy: %.4f} loss=%.4f time=%.2fs\n",
            epoch, n_test,
            static_cast<std::size_t>(result.accuracy * static_cast<float>(n_test) + 0.5f),
            static_cast<double>(result.accuracy), static_cast<double>(result.loss),
            seconds.count());
    }
    std::printf("test_accuracy=%.4f\n", static_cast<double>(result.accuracy));
    return 0;
} catch (const std::exception &e) {
    std::fprintf(stderr, "mnist_cpp: %s\n", e.what());
    return 1;
}
