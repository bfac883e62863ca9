// Example: a program of your own that drives postbox through the client API —
// submit files to a workflow, follow the execution, send a typed message.
//
//   postbox-example-submit "host=127.0.0.1 port=5432 user=postgres" docs /data/in
#include <iostream>
#include <postbox/client.hpp>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: postbox-example-submit DSN WORKFLOW PATH...\n";
    return 2;
  }
  postbox::client c{argv[1], "example-submit"};

  postbox::submit_request req;
  req.workflow = argv[2];
  req.paths.assign(argv + 3, argv + argc);
  // When it completes, also enqueue a message of ours (a continuation).
  req.headers = R"({"on_success": {"queue": "reports", "type": "execution_callback",
                                   "payload": {"note": "sent by the example"}}})";
  auto sub = c.submit(req);
  if (!sub) {
    std::cerr << "submit failed: " << postbox::describe(sub.error()) << "\n";
    return 1;
  }
  std::cout << "execution " << sub->execution_id << " over " << sub->files << " files\n";

  auto done = c.wait(sub->execution_id, [](const postbox::execution_record& e) {
    std::cout << "  " << postbox::to_string(e.status) << " " << e.files_done + e.files_failed << "/"
              << e.files_total << "\n";
  });
  if (!done) {
    std::cerr << "wait failed: " << postbox::describe(done.error()) << "\n";
    return 1;
  }
  std::cout << "finished " << postbox::to_string(done->status) << ": " << done->files_done
            << " done, " << done->files_failed << " failed\n";
  return done->status == postbox::execution_status::completed ? 0 : 1;
}
