// TrainDigits: the three Brine workflows on real data.
//
//   swift run -c release TrainDigits [output-folder]
//
// Trains a small classifier on the UCI digits (fetched by
// scripts/fetch-models.sh), then: saves it with metadata; loads it by copy
// and by memory map and checks the predictions are identical; continues
// training from the loaded model and saves over the old file; loads the
// weights only into a freshly built network.
import Brine
import Foundation

func milliseconds(since start: UInt64) -> String {
    String(format: "%.2f ms", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
}

func percent(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("TrainDigits: \(message)\n".utf8))
    exit(1)
}

// MARK: Data

let dataURL = Digits.defaultLocation()
guard FileManager.default.fileExists(atPath: dataURL.path) else {
    fail("\(dataURL.path) not found; run scripts/fetch-models.sh (or set BRINE_CACHE_DIR)")
}
let all: Digits
do { all = try Digits.load(dataURL) } catch { fail("cannot read \(dataURL.path): \(error)") }

// Deterministic 80/20 split.
var splitRNG = SplitMix64(seed: 2024)
var order = Array(0 ..< all.count)
order.shuffle(using: &splitRNG)
let trainCount = all.count * 4 / 5
let train = all.subset(Array(order[..<trainCount]))
let test = all.subset(Array(order[trainCount...]))
print("data     \(all.count) digits × 64 pixels from \(dataURL.lastPathComponent): \(train.count) train, \(test.count) test")

let folder = CommandLine.arguments.count > 1
    ? URL(fileURLWithPath: CommandLine.arguments[1])
    : FileManager.default.temporaryDirectory.appendingPathComponent("brine-train-digits")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
let modelURL = folder.appendingPathComponent("digits.brine")
let weightsURL = folder.appendingPathComponent("digits-weights.brine")

// MARK: 1. Train and save with metadata

let firstEpochs = 15
var model = DigitClassifier(hiddenUnits: 64, learningRate: 0.1, batchSize: 16, seed: 7)
var trainRNG = SplitMix64(seed: 99)
var start = DispatchTime.now().uptimeNanoseconds
for epoch in 1 ... firstEpochs {
    let loss = model.trainEpoch(train, rng: &trainRNG)
    if epoch == 1 || epoch % 5 == 0 {
        print("train    epoch \(epoch): loss \(String(format: "%.4f", loss))")
    }
}
let trainAccuracy = model.accuracy(train)
let testAccuracy = model.accuracy(test)
print("train    \(firstEpochs) epochs in \(milliseconds(since: start)): train accuracy \(percent(trainAccuracy)), test accuracy \(percent(testAccuracy))")

func metadata(_ m: DigitClassifier, train: Double, test: Double) -> [String: Value] {
    [
        "dataset": "UCI optical digits (sklearn digits.csv.gz)",
        "epochs": .int(Int64(m.epochsTrained)),
        "learning_rate": .float64(Double("\(m.learningRate)")!),  // 0.1, not 0.10000000149011612
        "hidden_units": .int(Int64(m.hidden.outputs)),
        "train_accuracy": .float64(train),
        "test_accuracy": .float64(test),
    ]
}

// Tensors of at least 1 KiB (the two weight matrices) go out of line; the
// biases and the hyperparameters stay in the header's object tree.
var options = SaveOptions(inlineThreshold: 1024, metadata: metadata(model, train: trainAccuracy, test: testAccuracy))
start = DispatchTime.now().uptimeNanoseconds
try Brine.save(model, to: modelURL, options: options)
print("save     \(modelURL.path) in \(milliseconds(since: start))")
let saved = try BrineFile(contentsOf: modelURL)
for a in saved.arrays {
    print("           array \(a.path): \(a.dtype) \(a.shape), \(a.storedBytes) bytes at offset \(a.dataOffset)")
}
let meta = try Brine.metadata(of: modelURL)
print("metadata \(["brine.root_type", "epochs", "learning_rate", "train_accuracy", "test_accuracy"].map { "\($0)=\(meta[$0] ?? .null)" }.joined(separator: ", "))")

// MARK: 2. Load to predict: by copy and by memory map

let expected = model.predict(test)
start = DispatchTime.now().uptimeNanoseconds
let copied = try Brine.load(DigitClassifier.self, from: modelURL, mode: .copy)
let copyTime = milliseconds(since: start)
start = DispatchTime.now().uptimeNanoseconds
let mapped = try Brine.load(DigitClassifier.self, from: modelURL, mode: .mmap)
let mapTime = milliseconds(since: start)
let copyPredictions = copied.predict(test)
let mapPredictions = mapped.predict(test)
guard copyPredictions == expected, mapPredictions == expected else { fail("loaded models predict differently") }
print("load     copy in \(copyTime), mmap in \(mapTime) (hidden.weight is a zero-copy view of the file: \(mapped.hidden.weight.isView))")
print("predict  identical predictions on all \(test.count) test digits: in memory, copy-loaded, mmap-loaded; test accuracy \(percent(mapped.accuracy(test)))")

// MARK: 3. Load to continue training, save over the old file

var resumed = mapped  // the first update copies the mapped weights (a read-only map never changes the file)
let moreEpochs = 10
start = DispatchTime.now().uptimeNanoseconds
for _ in 1 ... moreEpochs { _ = resumed.trainEpoch(train, rng: &trainRNG) }
let resumedTrain = resumed.accuracy(train)
let resumedTest = resumed.accuracy(test)
print("resume   \(moreEpochs) more epochs from the loaded model in \(milliseconds(since: start)): epochs \(resumed.epochsTrained), train accuracy \(percent(resumedTrain)), test accuracy \(percent(resumedTest))")
options.metadata = metadata(resumed, train: resumedTrain, test: resumedTest)
try Brine.save(resumed, to: modelURL, options: options)  // atomic: temporary file, fsync, rename
let reloaded = try Brine.load(DigitClassifier.self, from: modelURL)
guard reloaded.predict(test) == resumed.predict(test), reloaded.epochsTrained == resumed.epochsTrained else {
    fail("the updated file does not hold the updated model")
}
print("save     updated \(modelURL.lastPathComponent) in place (atomically): metadata epochs=\(try Brine.metadata(of: modelURL)["epochs"] ?? .null), reloaded model predicts identically")

// MARK: 4. Weights only, into a freshly built network

try Brine.saveWeights(of: resumed, to: weightsURL)
var fresh = DigitClassifier(hiddenUnits: 64, learningRate: 0.1, batchSize: 16, seed: 12345)
let freshAccuracy = fresh.accuracy(test)
let report = try Brine.loadWeights(into: &fresh, from: weightsURL)
print("weights  \(weightsURL.lastPathComponent): \(report.loaded.joined(separator: ", "))")
print("weights  fresh network test accuracy \(percent(freshAccuracy)) before, \(percent(fresh.accuracy(test))) after loading the weights (complete: \(report.isComplete))")
guard fresh.predict(test) == resumed.predict(test) else { fail("weights-only load predicts differently") }

// A network of another shape is refused with the array's name and both shapes.
var wider = DigitClassifier(hiddenUnits: 128, learningRate: 0.1, batchSize: 16, seed: 1)
do {
    try Brine.loadWeights(into: &wider, from: weightsURL)
    fail("a mismatched architecture was accepted")
} catch let error as BrineError {
    print("weights  into a 128-unit network: \(error.code): \(error.message) (array '\(error.arrayPath ?? "?")')")
}
