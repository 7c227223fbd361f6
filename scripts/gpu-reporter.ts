// Mocha reporter for scripts/gpu-run.sh: one run of the GPU suite shows mocha's spec reporter on
// the console and writes mocha's JSON reporter into the file named by `--reporter-option
// output=FILE` (mocha itself takes one reporter per run).
import Mocha = require('mocha');

class SpecAndJsonReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    // The JSON reporter subscribes to the same runner and writes its file when the run ends.
    new Mocha.reporters.JSON(runner, options);
  }
}

export = SpecAndJsonReporter;
