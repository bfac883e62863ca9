// The project's single CAF type-id block. Keep it the only one, so ids never collide.
// Every actor_system_config must call `add_message_types<caf::id_block::postbox>()`: in CAF
// 0.17 the block only assigns ids and names, and that call is what registers the types at
// runtime (the stringified names below are the wire identity; every node must agree).
#pragma once

#include <caf/type_id.hpp>

#include "messages/messages.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(postbox, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(postbox, (postbox::continuation))
CAF_ADD_TYPE_ID(postbox, (postbox::message_headers))
CAF_ADD_TYPE_ID(postbox, (postbox::envelope))
CAF_ADD_TYPE_ID(postbox, (postbox::execute_workflow))
CAF_ADD_TYPE_ID(postbox, (postbox::process_file_batch))
CAF_ADD_TYPE_ID(postbox, (postbox::execution_callback))

CAF_END_TYPE_ID_BLOCK(postbox)
