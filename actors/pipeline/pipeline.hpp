// The file pipeline: the runtime's first application. execute_workflow splits an
// execution's files into batches, process_file_batch runs the workflow's processor
// on each file, execution_callback completes the execution once.
#pragma once

#include <memory>

#include "actors/pipeline/processors/processor.hpp"
#include "actors/runtime/dispatch.hpp"
#include "actors/runtime/handler_registry.hpp"

namespace postbox {

/// Registers the pipeline's three types; file batches run `processors`.
void register_pipeline(handler_registry& registry,
                       processor_registry processors = processor_registry::with_builtins());

/// A registry with the file pipeline registered (what the stock postbox-node runs).
handler_registry pipeline_handlers(
    processor_registry processors = processor_registry::with_builtins());

// One per message type.
handler_result handle_execute_workflow(handler_context& ctx, const delivery& d);
handler_result handle_process_file_batch(handler_context& ctx, const delivery& d,
                                         const processor_registry& processors);
handler_result handle_execution_callback(handler_context& ctx, const delivery& d);

}  // namespace postbox
