// The supervisor's protocol under CAF's deterministic coordinator and virtual
// time: a crashed child comes back after 200ms, then 400ms...; a drain tells
// consumers to finish, stops the rest, and ends the supervisor once all are down.
#define CAF_SUITE supervisor
#define FAIL(msg) CAF_FAIL(msg)  // 0.17.6's dsl.hpp uses an undefined FAIL macro
#include "actors/runtime/supervisor.hpp"

#include <caf/all.hpp>
#include <caf/test/dsl.hpp>

#include "actors/runtime/atoms.hpp"

using namespace postbox;
using namespace std::chrono_literals;

namespace {

using crash_atom = caf::atom_constant<caf::atom("t_crash")>;

struct stand_in_log {
  std::vector<caf::actor> spawned;
  int drained = 0;
  /// The consumers a listener stand-in knows: given at its start, then updated.
  std::vector<caf::actor> listener_targets;
  int listener_starts = 0;
};

caf::behavior stand_in(caf::event_based_actor* self, std::shared_ptr<stand_in_log> log) {
  return {
      [=](crash_atom) { self->quit(caf::sec::runtime_error); },
      [=](drain_atom) {
        ++log->drained;
        self->quit();
      },
  };
}

caf::behavior listener_stand_in(caf::event_based_actor* self, std::shared_ptr<stand_in_log> log) {
  return {
      [=](crash_atom) { self->quit(caf::sec::runtime_error); },
      [=](consumers_atom, const std::vector<caf::actor>& consumers) {
        log->listener_targets = consumers;
      },
  };
}

child_spec listener_spec(std::shared_ptr<stand_in_log> log) {
  return {"listener", false, [log](caf::actor_system& sys, const std::vector<caf::actor>& given) {
            auto a = sys.spawn(listener_stand_in, log);
            log->spawned.push_back(a);
            log->listener_targets = given;
            ++log->listener_starts;
            return a;
          }};
}

child_spec spec(const std::string& name, bool consumer, std::shared_ptr<stand_in_log> log) {
  return {name, consumer, [log](caf::actor_system& sys, const std::vector<caf::actor>&) {
            auto a = sys.spawn(stand_in, log);
            log->spawned.push_back(a);
            return a;
          }};
}

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<stand_in_log> log = std::make_shared<stand_in_log>();

  ~fixture() {
    // Children are not linked to the supervisor: stop them, or the system waits forever.
    for (auto& a : log->spawned) anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
  }
};

}  // namespace

CAF_TEST(restart delays double up to a cap) {
  CAF_CHECK_EQUAL(restart_delay(0).count(), 200);
  CAF_CHECK_EQUAL(restart_delay(1).count(), 400);
  CAF_CHECK_EQUAL(restart_delay(3).count(), 1600);
  CAF_CHECK_EQUAL(restart_delay(20).count(), 10000);
}

CAF_TEST_FIXTURE_SCOPE(supervisor_tests, fixture)

CAF_TEST(a crashed child is restarted with exponential backoff) {
  auto sup = spawn_supervisor_of(sys, "test", {spec("worker", false, log)});
  sched.run();
  CAF_REQUIRE_EQUAL(log->spawned.size(), 1u);
  auto first = log->spawned.back();
  self->send(first, crash_atom::value);
  sched.run();
  // Not at once: after 200ms of (virtual) time.
  CAF_CHECK_EQUAL(log->spawned.size(), 1u);
  CAF_CHECK_EQUAL(sched.advance_time(199ms), 0u);
  sched.run();
  CAF_CHECK_EQUAL(log->spawned.size(), 1u);
  sched.advance_time(1ms);
  sched.run();
  CAF_REQUIRE_EQUAL(log->spawned.size(), 2u);
  CAF_CHECK_NOT_EQUAL(log->spawned.back(), first);
  // The second crash waits twice as long.
  self->send(log->spawned.back(), crash_atom::value);
  sched.run();
  sched.advance_time(399ms);
  sched.run();
  CAF_CHECK_EQUAL(log->spawned.size(), 2u);
  sched.advance_time(1ms);
  sched.run();
  CAF_CHECK_EQUAL(log->spawned.size(), 3u);
  anon_send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
}

// A consumer that crashed comes back with a new handle: the listener learns it (and
// keeps running) whenever the consumer comes back, also when the listener itself was
// restarted before the consumer was. It used to be killed and restarted with the
// consumers alive at that moment: back before the consumer, it never woke the new one.
CAF_TEST(the listener learns the handle of a restarted consumer) {
  auto sup = spawn_supervisor_of(sys, "test", {spec("consumer a", true, log), listener_spec(log)});
  sched.run();
  CAF_REQUIRE_EQUAL(log->spawned.size(), 2u);
  auto consumer = log->spawned[0];
  auto listener = log->spawned[1];
  CAF_REQUIRE_EQUAL(log->listener_targets.size(), 1u);
  CAF_CHECK_EQUAL(log->listener_targets[0], consumer);
  // The consumer crashes twice in a row: its next start is 400ms away.
  for (int round = 0; round < 2; ++round) {
    self->send(log->spawned[round == 0 ? 0 : log->spawned.size() - 1], crash_atom::value);
    sched.run();
    sched.advance_time(round == 0 ? 200ms : 400ms);
    sched.run();
  }
  auto second = log->spawned.back();
  CAF_REQUIRE_NOT_EQUAL(second, consumer);
  CAF_CHECK_EQUAL(log->listener_starts, 1);  // the listener kept running
  CAF_REQUIRE_EQUAL(log->listener_targets.size(), 1u);
  CAF_CHECK_EQUAL(log->listener_targets[0], second);
  // Now the consumer crashes (back in 800ms) and the listener too (back in 200ms):
  // the listener starts without it and learns it when it is back.
  self->send(second, crash_atom::value);
  sched.run();
  self->send(listener, crash_atom::value);
  sched.run();
  sched.advance_time(200ms);
  sched.run();
  CAF_CHECK_EQUAL(log->listener_starts, 2);
  CAF_CHECK(log->listener_targets.empty());
  sched.advance_time(600ms);
  sched.run();
  auto third = log->spawned.back();
  CAF_REQUIRE_NOT_EQUAL(third, second);
  CAF_REQUIRE_EQUAL(log->listener_targets.size(), 1u);
  CAF_CHECK_EQUAL(log->listener_targets[0], third);
  anon_send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
}

CAF_TEST(drain lets consumers finish stops the rest and then quits) {
  auto sup = spawn_supervisor_of(
      sys, "test",
      {spec("consumer a", true, log), spec("consumer b", true, log), spec("reaper", false, log)});
  sched.run();
  CAF_REQUIRE_EQUAL(log->spawned.size(), 3u);
  self->monitor(sup);
  self->send(sup, drain_atom::value);
  sched.run();
  CAF_CHECK_EQUAL(log->drained, 2);  // both consumers were told, the reaper was stopped
  bool down = false;
  self->receive([&](caf::down_msg& dm) { down = dm.source == sup.address(); },
                caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK(down);
  // Nothing is restarted after a drain, even when time passes.
  sched.advance_time(20s);
  sched.run();
  CAF_CHECK_EQUAL(log->spawned.size(), 3u);
}

CAF_TEST(unexpected messages are dropped without killing the sender) {
  auto sup = spawn_supervisor_of(sys, "test", {spec("worker", false, log)});
  sched.run();
  auto sender = sys.spawn(
      [](caf::event_based_actor* s, caf::actor target) -> caf::behavior {
        s->send(target, std::string("not a supervisor message"));
        return {[](int) {}};
      },
      sup);
  sched.run();
  self->monitor(sender);
  sched.run();
  bool sender_died = false;
  self->receive([&](caf::down_msg&) { sender_died = true; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK(!sender_died);
  anon_send_exit(sender, caf::exit_reason::user_shutdown);
  anon_send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
}

CAF_TEST_FIXTURE_SCOPE_END()
