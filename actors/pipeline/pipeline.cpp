// The pipeline's registration.
#include "actors/pipeline/pipeline.hpp"

#include "messages/messages.hpp"

namespace postbox {

void register_pipeline(handler_registry& registry, processor_registry processors) {
  auto shared = std::make_shared<const processor_registry>(std::move(processors));
  registry.add(execute_workflow_type, handle_execute_workflow)
      .add(process_file_batch_type,
           [shared](handler_context& ctx, const delivery& d) {
             return handle_process_file_batch(ctx, d, *shared);
           })
      .add(execution_callback_type, handle_execution_callback);
}

handler_registry pipeline_handlers(processor_registry processors) {
  handler_registry r;
  register_pipeline(r, std::move(processors));
  return r;
}

}  // namespace postbox
