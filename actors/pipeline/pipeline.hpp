// The file pipeline: the runtime's first application. execute_workflow splits an
// execution's files into batches, process_file_batch runs the workflow's processor
// on each file, execution_callback completes the execution once.
#pragma once

#include <memory>
#include <optional>
#include <postbox/postbox.hpp>
#include <string>

#include "actors/pipeline/processors/processor.hpp"
#include "actors/runtime/typed_handler.hpp"

namespace postbox {

/// Registers the pipeline's three types; file batches run `processors`.
void register_pipeline(registry& registry,
                       processor_registry processors = processor_registry::with_builtins());

/// A registry with the file pipeline registered (what the stock postbox-node runs).
handler_registry pipeline_handlers(
    processor_registry processors = processor_registry::with_builtins());

// One handler per message type, each on the public API (a JSON body it decodes itself).
outcome orchestrate(context& ctx, const json_text& body);
outcome process_batch(context& ctx, const json_text& body, const processor_registry& processors);
outcome complete_execution(context& ctx, const json_text& body);

/// The reason to reject a message whose envelope names an execution other than its
/// body's; nullopt when they agree or the envelope names none.
std::optional<std::string> execution_id_mismatch(const std::string& envelope,
                                                 const std::string& body);

}  // namespace postbox
