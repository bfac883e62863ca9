// The `postbox` command line: global options, commands, one-line errors.
#pragma once

namespace postbox::cli {

/// Runs the command in argv; returns the process exit code.
int run(int argc, char** argv);

}  // namespace postbox::cli
