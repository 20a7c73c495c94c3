#!/usr/bin/python3
"""Integration tests of `sotto chat`: the terminal chat driven under tmux the way a user types,
against real `sotto daemon` processes (profiles that swapped cards, as in test_node.py), with
the node in-process when no daemon runs, and in pipe mode. Every wait is a deadline polling the
screen or the other side's history."""
import os
import re
import shlex
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_node import DEADLINE, PeopleCase, free_port, read, wait_for  # noqa: E402

SOTTO = sys.argv[1] if len(sys.argv) > 1 else "sotto"
EXIT = {"ok": 0, "usage": 2, "contact": 10}

def sanitizer_env(root):
    """The environment's sanitizer options, as they are: nothing is suppressed."""
    return {}


class Screen:
    """One `sotto chat` in a tmux server of its own (120x30), its stderr in a log file."""

    def __init__(self, person, root, args, shell_tail=""):
        self.sock = os.path.join(root, f"tmux-{person.name.lower()}")
        self.log = os.path.join(root, f"{person.name.lower()}-chat.log")
        self.status = os.path.join(root, f"{person.name.lower()}-chat.status")
        conf = os.path.join(root, "tmux.conf")
        with open(conf, "w") as f:
            f.write("set -g remain-on-exit on\nset -g history-limit 2000\n")
        env = dict(os.environ, SOTTO_HOME=person.home, TERM=os.environ.get("TERM", "xterm"),
                   **sanitizer_env(root))
        cmd = " ".join(shlex.quote(a) for a in [SOTTO, "chat", *args])
        # the shell writes the status: tmux 3.3 sometimes leaves the pane's process unreaped
        cmd += f" 2>>{shlex.quote(self.log)}; echo $? >{shlex.quote(self.status)}{shell_tail}"
        subprocess.run(["tmux", "-S", self.sock, "-f", conf, "new-session", "-d", "-x", "120",
                        "-y", "30", "-s", "chat", cmd], env=env, check=True)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True,
                              check=True).stdout

    def lines(self):
        text = self.tmux("capture-pane", "-p", "-J", "-t", "chat")
        return [l.rstrip() for l in text.splitlines() if l.strip()]

    def type(self, text):
        self.tmux("send-keys", "-t", "chat", "-l", text)

    def key(self, *names):
        self.tmux("send-keys", "-t", "chat", *names)

    def wait(self, what, pred):
        """Polls the screen until pred(lines) holds; returns the lines."""
        try:
            return wait_for(what, lambda: pred(self.lines()) and self.lines())
        except AssertionError:
            raise AssertionError(f"{what}: the screen is\n" + "\n".join(self.lines()) +
                                 "\nlog:\n" + read(self.log)[-3000:])

    def wait_text(self, pattern):
        return self.wait(repr(pattern), lambda ls: any(re.search(pattern, l) for l in ls))

    def exit_status(self):
        """None while the chat runs, else its exit status."""
        text = read(self.status)
        return int(text) if text.endswith("\n") else None

    def wait_exit(self):
        return wait_for("the chat to end", lambda: self.exit_status() is not None and
                        (self.exit_status(),))[0]

    def close(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True)

    def sanitizer_clean(self):
        text = read(self.log)
        return "ERROR: AddressSanitizer" not in text and "ERROR: LeakSanitizer" not in text \
            and "runtime error" not in text


class ChatTests(PeopleCase, unittest.TestCase):
    root_prefix = "sotto-chat-"

    def setUp(self):
        super().setUp()
        self.screens = []

    def tearDown(self):
        for s in self.screens:
            s.close()
        dirty = [s.log for s in self.screens if not s.sanitizer_clean()]
        logs = "".join(read(s.log)[-3000:] for s in self.screens)
        super().tearDown()
        self.assertFalse(dirty, f"sanitizer reports: {logs}")

    def chat(self, person, *args, shell_tail=""):
        s = Screen(person, self.root, args, shell_tail)
        self.screens.append(s)
        return s

    def chat_pipe(self, person, text, *args):
        env = dict(os.environ, SOTTO_HOME=person.home, **sanitizer_env(self.root))
        p = subprocess.run([SOTTO, "chat", *args], input=text, env=env, capture_output=True,
                           text=True, timeout=120)
        self.assertTrue("ERROR: AddressSanitizer" not in p.stderr and
                        "ERROR: LeakSanitizer" not in p.stderr and
                        "runtime error" not in p.stderr, p.stderr)
        return p

    def quit(self, screen):
        screen.type("/quit")
        screen.key("Enter")
        self.assertEqual(screen.wait_exit(), 0, read(screen.log))

    def test_an_incoming_message_does_not_break_the_line_being_typed(self):
        a, b = self.pair()
        a.start()
        b.start()
        s = self.chat(a, "Bob")
        s.wait("the prompt", lambda ls: ls and ls[-1] == "Bob>")
        s.type("half of what I mean")
        s.wait("the half line", lambda ls: ls and ls[-1] == "Bob> half of what I mean")
        b.run("send", "Alice", "hello from bob, in the middle")
        lines = s.wait("the message above the intact line",
                       lambda ls: ls and ls[-1] == "Bob> half of what I mean" and
                       any(l.endswith("← Bob: hello from bob, in the middle") for l in ls))
        self.assertEqual(sum("half of what I mean" in l for l in lines), 1, lines)
        s.type(", and the rest")
        s.key("Enter")
        wait_for("the line at Bob's node", lambda: [m["text"] for m in b.history("Alice")
                                                    if m["direction"] == "in"] ==
                 ["half of what I mean, and the rest"])
        s.wait_text(r"→ half of what I mean, and the rest  ✓✓$")
        self.assertEqual(s.lines()[-1], "Bob>")
        self.quit(s)

    def test_a_sent_line_is_stored_at_once_and_marked_delivered_when_bob_has_it(self):
        a, b = self.pair()
        a.start()
        s = self.chat(a, "Bob")
        s.wait_text(r"^Bob>")
        s.type("are you there?")
        s.key("Enter")
        lines = s.wait_text(r"→ are you there\?  ✓$")
        self.assertFalse(any("✓✓" in l for l in lines), lines)
        self.assertEqual(a.history("Bob")[0]["state"], "waiting")
        b.start()
        wait_for("the message at Bob's node",
                 lambda: [m["text"] for m in b.history("Alice")] == ["are you there?"])
        # in place when it is still the last line, else on a line of its own
        s.wait_text(r"→ are you there\?  ✓✓$|^   ✓✓ delivered: are you there\?$")
        s.wait_text(r"link up with Bob via 127\.0\.0\.1:\d+ \((dialed|accepted)\)")
        self.quit(s)

    def test_what_bob_saw_in_his_chat_is_marked_read_on_alices_side(self):
        a, b = self.pair()
        a.start()
        b.start()
        s = self.chat(a, "Bob")
        s.wait_text(r"^Bob>")
        s.type("did you see this?")
        s.key("Enter")
        s.wait_text(r"→ did you see this\?  ✓✓$|^   ✓✓ delivered: did you see this\?$")
        self.assertFalse(a.history("Bob")[-1]["read"], "read before Bob opened the chat")
        self.assertFalse(b.history("Alice")[-1]["read"])
        # Bob opens the chat: the message is on his screen, so it is read, and Alice is told
        t = self.chat(b, "Alice")
        t.wait_text(r"← Alice: did you see this\?")
        wait_for("Alice's node to learn that Bob read it", lambda: a.history("Bob")[-1]["read"])
        self.assertTrue(b.history("Alice")[-1]["read"])
        s.wait_text(r"→ did you see this\?  ✓✓ read$|^   ✓✓ read: did you see this\?$")
        self.assertIn("did you see this?  ✓✓ read", a.run("history", "Bob").stdout)
        # a message that arrives while Bob's chat is open is read at once
        s.type("and this one")
        s.key("Enter")
        t.wait_text(r"← Alice: and this one")
        s.wait_text(r"→ and this one  ✓✓ read$|^   ✓✓ read: and this one$")
        # Alice's own screen shows Bob's messages as read by her: his receipts say so
        t.type("yes")
        t.key("Enter")
        s.wait_text(r"← Bob: yes")
        wait_for("Bob's node to learn that Alice read it", lambda: b.history("Alice")[-1]["read"])
        # receipts are not messages: neither history shows them
        self.assertEqual([m["text"] for m in a.history("Bob")],
                         ["did you see this?", "and this one", "yes"])
        self.quit(s)
        self.quit(t)

    def test_with_no_daemon_the_chat_runs_the_node_itself(self):
        a, b = self.pair()
        b.start()
        s = self.chat(a, "Bob", "--listen", f"127.0.0.1:{a.port}")
        s.wait_text(f"your node runs inside this chat \\(peer links on port {a.port}\\)")
        self.assertTrue(os.path.exists(os.path.join(a.home, "api.json")))
        self.assertEqual(a.status()["peer_port"], a.port, "other commands reach it too")
        b.run("send", "Alice", "ping from bob's daemon")
        s.wait_text(r"← Bob: ping from bob's daemon$")
        s.type("pong")
        s.key("Enter")
        wait_for("the answer at Bob's node",
                 lambda: "pong" in [m["text"] for m in b.history("Alice")])
        s.wait_text(r"→ pong  ✓✓$")
        s.key("C-d")
        self.assertEqual(s.wait_exit(), 0, read(s.log))
        self.assertFalse(os.path.exists(os.path.join(a.home, "api.json")), "the node stopped")
        r = a.run("status", check=False)
        self.assertEqual(r.returncode, 18, r.stdout + r.stderr)

    def test_the_seeds_direct_mode_two_chats_and_no_daemon_or_directory(self):
        """Bob waits (--mode listen, his node inside his chat, dialing nobody) at an address
        that is not the one in his card; Alice connects to the address he told her."""
        a, b = self.pair()
        port = free_port()
        s = self.chat(b, "Alice", "--mode", "listen", "--listen", f"127.0.0.1:{port}")
        s.wait_text(f"your node runs inside this chat \\(peer links on port {port}\\)")
        p = self.chat_pipe(a, "hello over a direct link\n", "Bob", "--mode", "connect",
                           "--connect", f"127.0.0.1:{port}")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        s.wait_text(r"← Alice: hello over a direct link$")
        s.wait_text(r"link up with Alice via 127\.0\.0\.1:\d+ \(accepted\)")
        self.quit(s)

    def test_a_node_that_is_not_bob_is_shown_as_a_warning(self):
        a, b = self.pair()
        mallory = self.person("Mallory")
        mallory.port = b.port  # answers at Bob's address with its own key
        mallory.start()
        a.start()
        s = self.chat(a, "Bob")
        s.wait_text(r"^Bob>")
        s.type("for bob only")
        s.key("Enter")
        s.wait_text(r"→ for bob only  ✓$")
        s.wait_text(rf"!! the node at 127\.0\.0\.1:{b.port} is not Bob: link refused")
        self.assertEqual(a.history("Bob")[0]["state"], "waiting", "nothing went to mallory")
        self.quit(s)

    def test_the_chat_ends_when_the_daemon_it_talks_to_stops(self):
        a, b = self.pair()
        a.start()
        s = self.chat(a, "Bob")
        s.wait_text(r"^Bob>")
        self.assertEqual(a.stop(), 0)
        self.assertEqual(s.wait_exit(), 18, read(s.log))
        s.wait_text(r"!! the node stopped")

    def test_ctrl_c_leaves_and_gives_the_terminal_back_as_it_was(self):
        a, b = self.pair()
        a.start()
        tail = ("; echo tty: $(stty -a | tr ' ;' '\\n\\n' | "
                "grep -x -e icanon -e -icanon -e echo -e -echo)")
        s = self.chat(a, "Bob", shell_tail=tail)
        s.wait_text(r"^Bob>")
        s.type("never sent")
        s.wait_text(r"^Bob> never sent$")
        s.key("C-c")
        self.assertEqual(s.wait_exit(), 0, read(s.log))
        lines = s.wait_text(r"^tty: ")
        self.assertIn("tty: icanon echo", lines, "canonical mode and echo are back")
        self.assertEqual(a.history("Bob"), [])

    def test_pipe_mode_sends_each_line_and_ends_at_end_of_input(self):
        a, b = self.pair()
        a.start()
        b.start()
        p = self.chat_pipe(a, "hi from a pipe\n\nand a second line\n", "Bob")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"→ hi from a pipe  ✓\n")
        self.assertRegex(p.stdout, r"→ and a second line  ✓\n")
        wait_for("both lines at Bob's node", lambda: [m["text"] for m in b.history("Alice")] ==
                 ["hi from a pipe", "and a second line"])

    def test_pipe_mode_without_a_daemon_waits_for_delivery_before_it_ends(self):
        a, b = self.pair()
        b.start()
        p = self.chat_pipe(a, "sent by a script\n", "Bob", "--listen", f"127.0.0.1:{a.port}")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("✓✓ delivered: sent by a script", p.stdout)
        self.assertEqual([m["text"] for m in b.history("Alice")], ["sent by a script"])
        self.assertFalse(os.path.exists(os.path.join(a.home, "api.json")), "the node stopped")

    def test_a_node_that_cannot_start_is_reported_and_leaves_nothing_behind(self):
        a, b = self.pair()
        b.start()
        p = self.chat_pipe(a, "x\n", "Bob", "--listen", f"127.0.0.1:{b.port}")  # taken
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(f"cannot listen for peer links on 127.0.0.1:{b.port}", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(a.home, "api.json")))
        p = self.chat_pipe(a, "", "Bob", "--listen", f"127.0.0.1:{a.port}")
        self.assertEqual(p.returncode, 0, "the node lock was released: " + p.stderr)

    def test_bad_usage_and_unknown_contacts_have_their_exit_codes(self):
        a = self.person("Alice").start()
        for args in (["chat"], ["chat", "Bob", "--mode", "sideways"],
                     ["chat", "Bob", "--connect", "no-port"],
                     ["chat", "Bob", "--mode", "connect", "--listen", "127.0.0.1:1"],
                     ["chat", "Bob", "Carol"]):
            r = a.run(*args, check=False)
            self.assertEqual(r.returncode, EXIT["usage"], (args, r.stderr))
        r = self.chat_pipe(a, "", "Nobody")
        self.assertEqual(r.returncode, EXIT["contact"], r.stderr)
        self.assertIn("no such contact", r.stderr)
        r = a.run("chat", "--help")
        self.assertIn("--mode auto|connect|listen", r.stdout)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + sys.argv[2:], verbosity=2)
