import Foundation
import Brine

/// A fully connected layer: `y = weight · x + bias`.
struct DenseLayer: Codable {
    /// Shape [outputs, inputs], C order.
    var weight: Tensor<Float>
    /// Shape [outputs].
    var bias: Tensor<Float>

    var outputs: Int { weight.shape[0] }
    var inputs: Int { weight.shape[1] }

    /// Random weights with standard deviation `scale`, zero bias.
    init(inputs: Int, outputs: Int, scale: Float, rng: inout SplitMix64) {
        weight = try! Tensor(shape: [outputs, inputs], scalars: (0 ..< inputs * outputs).map { _ in rng.normal() * scale })
        bias = try! Tensor(zeros: [outputs])
    }
}

/// A one-hidden-layer perceptron for 8×8 digit images: 64 pixels → ReLU
/// hidden layer → 10 softmax classes. Plain Swift, trained by minibatch SGD.
/// Everything in it is `Codable`: the tensors are saved out of line, the
/// hyperparameters and counters in the file's object tree.
struct DigitClassifier: Codable {
    var hidden: DenseLayer
    var output: DenseLayer
    /// Pixels are 0…16; inputs are scaled to 0…1.
    var pixelScale: Float = 1.0 / 16
    var learningRate: Float
    var batchSize: Int
    var epochsTrained = 0

    /// A freshly initialised network (He initialisation for the ReLU layer).
    init(hiddenUnits: Int, learningRate: Float, batchSize: Int, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        hidden = DenseLayer(inputs: 64, outputs: hiddenUnits, scale: (2 / 64).squareRoot(), rng: &rng)
        output = DenseLayer(inputs: hiddenUnits, outputs: 10, scale: (1 / Float(hiddenUnits)).squareRoot(), rng: &rng)
        self.learningRate = learningRate
        self.batchSize = batchSize
    }

    /// Hidden activations and class logits of one image (64 pixel values).
    private func forward(_ pixels: ArraySlice<Float>, hidden h: inout [Float], logits z: inout [Float]) {
        let x = Array(pixels)
        hidden.weight.withUnsafeBufferPointer { w in
            hidden.bias.withUnsafeBufferPointer { b in
                for j in 0 ..< hidden.outputs {
                    var s = b[j]
                    for i in 0 ..< 64 { s += w[j * 64 + i] * x[i] * pixelScale }
                    h[j] = max(s, 0)
                }
            }
        }
        output.weight.withUnsafeBufferPointer { w in
            output.bias.withUnsafeBufferPointer { b in
                for o in 0 ..< 10 {
                    var s = b[o]
                    for j in 0 ..< output.inputs { s += w[o * output.inputs + j] * h[j] }
                    z[o] = s
                }
            }
        }
    }

    /// The predicted class (0…9) of each image.
    func predict(_ data: Digits) -> [Int] {
        var h = [Float](repeating: 0, count: hidden.outputs)
        var z = [Float](repeating: 0, count: 10)
        return (0 ..< data.count).map { n in
            forward(data.pixels(n), hidden: &h, logits: &z)
            return z.indices.max { z[$0] < z[$1] }!
        }
    }

    /// The fraction of images classified correctly.
    func accuracy(_ data: Digits) -> Double {
        let p = predict(data)
        return Double(zip(p, data.labels).filter { $0 == $1 }.count) / Double(data.count)
    }

    /// One pass over `data` in a shuffled order; returns the mean cross-entropy loss.
    mutating func trainEpoch(_ data: Digits, rng: inout SplitMix64) -> Double {
        let H = hidden.outputs
        var order = Array(0 ..< data.count)
        order.shuffle(using: &rng)
        var h = [Float](repeating: 0, count: H)
        var z = [Float](repeating: 0, count: 10)
        var gW1 = [Float](repeating: 0, count: H * 64), gB1 = [Float](repeating: 0, count: H)
        var gW2 = [Float](repeating: 0, count: 10 * H), gB2 = [Float](repeating: 0, count: 10)
        var dh = [Float](repeating: 0, count: H)
        var totalLoss = 0.0
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let batch = order[start ..< min(start + batchSize, order.count)]
            for i in gW1.indices { gW1[i] = 0 }
            for i in gW2.indices { gW2[i] = 0 }
            for i in 0 ..< H { gB1[i] = 0 }
            for i in 0 ..< 10 { gB2[i] = 0 }
            for n in batch {
                let x = Array(data.pixels(n))
                forward(data.pixels(n), hidden: &h, logits: &z)
                // Softmax cross-entropy: dLoss/dz = softmax(z) - onehot(label).
                let m = z.max()!
                var sum: Float = 0
                for o in 0 ..< 10 { z[o] = expf(z[o] - m); sum += z[o] }
                for o in 0 ..< 10 { z[o] /= sum }
                let label = data.labels[n]
                totalLoss -= Double(logf(max(z[label], 1e-30)))
                z[label] -= 1
                output.weight.withUnsafeBufferPointer { w2 in
                    for j in 0 ..< H {
                        var s: Float = 0
                        for o in 0 ..< 10 { s += w2[o * H + j] * z[o] }
                        dh[j] = h[j] > 0 ? s : 0
                    }
                }
                for o in 0 ..< 10 {
                    gB2[o] += z[o]
                    for j in 0 ..< H { gW2[o * H + j] += z[o] * h[j] }
                }
                for j in 0 ..< H where dh[j] != 0 {
                    gB1[j] += dh[j]
                    for i in 0 ..< 64 { gW1[j * 64 + i] += dh[j] * x[i] * pixelScale }
                }
            }
            let step = learningRate / Float(batch.count)
            hidden.weight.withUnsafeMutableBufferPointer { w in for i in w.indices { w[i] -= step * gW1[i] } }
            hidden.bias.withUnsafeMutableBufferPointer { b in for i in b.indices { b[i] -= step * gB1[i] } }
            output.weight.withUnsafeMutableBufferPointer { w in for i in w.indices { w[i] -= step * gW2[i] } }
            output.bias.withUnsafeMutableBufferPointer { b in for i in b.indices { b[i] -= step * gB2[i] } }
        }
        epochsTrained += 1
        return totalLoss / Double(data.count)
    }
}

/// Deterministic pseudo-random numbers (SplitMix64), so every run is the same.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box–Muller).
    mutating func normal() -> Float {
        let u1 = Float.random(in: Float.ulpOfOne ..< 1, using: &self)
        let u2 = Float.random(in: 0 ..< 1, using: &self)
        return (-2 * logf(u1)).squareRoot() * cosf(2 * .pi * u2)
    }
}
