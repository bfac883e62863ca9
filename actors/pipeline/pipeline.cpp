// The pipeline's registration.
#include "actors/pipeline/pipeline.hpp"

#include "messages/messages.hpp"

namespace postbox {

void register_pipeline(registry& registry, processor_registry processors) {
  auto shared = std::make_shared<const processor_registry>(std::move(processors));
  registry.on_json(execute_workflow_type, orchestrate)
      .on_json(process_file_batch_type,
               [shared](context& ctx, const json_text& body) {
                 return process_batch(ctx, body, *shared);
               })
      .on_json(execution_callback_type, complete_execution);
}

handler_registry pipeline_handlers(processor_registry processors) {
  registry r;
  register_pipeline(r, std::move(processors));
  return r;
}

std::optional<std::string> execution_id_mismatch(const std::string& envelope,
                                                 const std::string& body) {
  if (envelope.empty() || envelope == body) return std::nullopt;
  return "envelope execution_id '" + envelope + "' differs from the body's '" + body + "'";
}

}  // namespace postbox
