"""The conversation engine: (state, event, now) -> (new state, intents). Pure: no I/O, no channel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.engine import understand
from bot.engine.flow import FlowSet, Step
from bot.engine.types import (
    ChannelOptOut,
    Choice,
    CounsellorJoined,
    CounsellorReply,
    Event,
    HandBack,
    HookContext,
    Message,
    OptIn,
    OptOut,
    Outcome,
    Refused,
    Reply,
    SaveProfile,
    State,
    TimerFired,
    Unsupported,
)

Translate = Callable[[str, str], str]
MAX_DEPTH = 40
MERGE_LIMIT = 240
HANDOFF_WAIT = "handoff.waiting"  # where a conversation rests while a counsellor has it
ANSWERED_IN_HANDOFF = {"stop", "delete"}  # the only keywords the assistant acts on meanwhile


class _Fields(dict[str, Any]):
    """Fills {fields} from the answers, leaving unknown ones empty rather than failing."""

    def __missing__(self, key: str) -> str:
        return ""


class Engine:
    """Runs the flows for one event at a time."""

    def __init__(self, flowset: FlowSet, translate: Translate, languages: tuple[str, ...]) -> None:
        self.flows = flowset
        self.translate = translate
        self.languages = languages

    def handle(self, state: State, event: Event, now: datetime, facts: Any = None) -> Outcome:
        """Decide what happens when this event reaches this conversation."""
        turn = _Turn(self, state.model_copy(deep=True), now, facts)
        turn.dispatch(event)
        return Outcome(turn.s, _merge(turn.intents))


class _Turn:
    """The work of one event: mutates its own copy of the state and collects intents."""

    def __init__(self, engine: Engine, state: State, now: datetime, facts: Any = None) -> None:
        self.facts = facts
        self.e = engine
        self.f = engine.flows
        self.s = state
        self.now = now
        self.intents: list[Any] = []
        self.depth = 0

    # Saying things -------------------------------------------------------------------------

    def t(self, msgid: str, **extra: Any) -> str:
        """A text in the conversation's language, with the resident's answers filled in."""
        return self.e.translate(msgid, self.s.lang).format_map(_Fields(self.s.answers, **extra))

    def say(self, msgid: str, kind: str = "reply") -> None:
        self.intents.append(Reply(self.t(msgid), kind=kind))

    def say_system(self, name: str, kind: str = "reply") -> None:
        self.say(self.f.text(name), kind)

    def choices(self, step: Step) -> tuple[Choice, ...]:
        if not step.ask:
            return ()
        if step.ask.type == "yesno":
            return (Choice("yes", self.t(self.f.text("yes"))), Choice("no", self.t(self.f.text("no"))))
        fixed = tuple(Choice(o.value, o.label if o.raw else self.t(o.label)) for o in step.ask.options)
        if step.options_from:
            return tuple(Choice(c["value"], c["label"]) for c in self.s.shown) + fixed
        return fixed

    def question(self, ref: str, text: str | None = None) -> None:
        """Ask the question of a step (again), with its choices."""
        step = self.f.step(ref)
        if step.options_from:
            listed = self.call_hook(step.options_from, None) or []
            self.s.shown = [{"value": c.value, "label": c.label} for c in listed]
            if not listed and "empty" in step.routes:
                self.go(step.routes["empty"])
                return
        prompt = self.t(text) if text else self.t(step.say[-1])
        self.intents.append(Reply(prompt, self.choices(step), question=ref))

    # Moving between steps ------------------------------------------------------------------

    def enter(self, ref: str) -> None:
        """Arrive at a step: say its texts, then wait for an answer or move on."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuntimeError(f"flow loop at {ref}")
        step = self.f.step(ref)
        self.s.flow, _, self.s.step = ref.partition(".")
        if step.call:
            if step.next:
                self.s.resume.append(self.f.resolve(step.next, self.s.flow))
            self.enter(self.f.resolve(step.call, self.s.flow, flow_first=True))
            return
        if step.text_from:
            self.intents.append(Reply(str(self.call_hook(step.text_from, None))))
        if step.ask:
            for text in step.say[:-1]:
                self.say(text)
            self.question(ref)
            return
        for text in step.say:
            self.say(text)
        result = self.run_hook(step, None)
        target = step.routes.get(str(result)) if result is not None else None
        self.go(target or step.next)

    def go(self, target: str | None) -> None:
        """Follow a route: to a step, back to where a detour started, or to the end."""
        if target == "return":
            if self.s.resume:
                ref = self.s.resume.pop()
                if self.f.step(ref).ask:
                    self.s.flow, _, self.s.step = ref.partition(".")
                    self.question(ref)
                else:
                    self.enter(ref)
            else:
                self.home()
        elif target == "stay":  # back where a timer interrupted, asking nothing again
            ref = self.s.answers.get("timer_from")
            if ref and self.s.resume and self.s.resume[-1] == ref:
                self.s.resume.pop()
            self.s.flow, _, self.s.step = ref.partition(".") if ref else (None, "", None)
        elif target == "idle":  # like return, but with nothing to return to, wait quietly (no menu)
            if self.s.resume:
                self.go("return")
            else:
                self.s.flow = self.s.step = None
        elif target == "end":
            self.s = State(lang=self.s.lang, opted_out=self.s.opted_out)
        elif target:
            self.enter(self.f.resolve(target, self.s.flow or "system"))

    def home(self) -> None:
        """The main menu once signed up; the start of onboarding before."""
        self.s.resume.clear()
        self.s.back.clear()
        self.enter(self.f.resolve("menu" if self.s.onboarded else "onboarding", "system"))

    def reask(self) -> None:
        """Repeat the current question, or start where a new resident starts."""
        if self.s.at and self.f.step(self.s.at).ask:
            self.question(self.s.at)
        else:
            self.home()

    def run_hook(self, step: Step, answer: Any) -> str | None:
        return self.call_hook(step.hook, answer) if step.hook else None

    def call_hook(self, name: str, answer: Any) -> Any:
        """Run a named hook; the intents it emits join this turn's."""
        ctx = HookContext(self.s, answer, self.now, facts=self.facts)
        result = self.f.hooks[name](ctx)
        self.intents.extend(ctx.intents)
        return result

    # Events --------------------------------------------------------------------------------

    def dispatch(self, event: Event) -> None:
        if isinstance(event, ChannelOptOut):
            if not self.s.opted_out:
                self.s.opted_out = True
                self.intents.append(OptOut(event.reason))
            return
        if isinstance(event, TimerFired):
            self.timer(event)
            return
        if isinstance(event, CounsellorJoined | CounsellorReply | HandBack):
            self.counsellor(event)
            return
        if self.s.opted_out:
            self.back_from_opt_out(event)
            return
        if self.s.handoff and self.silent(event):
            return
        if isinstance(event, Unsupported):
            specific = f"only_text_{event.what}"  # e.g. only_text_edited; else the general line
            self.say_system(specific if specific in self.f.flows["system"].texts else "only_text")
            self.reask()
            return
        self.message(event)

    # A counsellor has the conversation --------------------------------------------------------

    def silent(self, event: Event) -> bool:
        """While a counsellor has the conversation, only STOP and DELETE (and its confirmation) act."""
        if self.s.flow == "privacy" and not self.s.opted_out:
            return False  # answering the erasure question DELETE asked
        if isinstance(event, Message) and not event.choice:
            return understand.match_keyword(event.text, self.f.keywords) not in ANSWERED_IN_HANDOFF
        return True

    def hold(self) -> None:
        """Rest at the handoff's waiting step, saying nothing; the question they were at resumes later."""
        self.s.handoff = True
        if self.s.at and self.s.at != HANDOFF_WAIT and self.f.step(self.s.at).ask:
            self.s.resume.append(self.s.at)
        self.s.back.clear()
        self.s.flow, _, self.s.step = HANDOFF_WAIT.partition(".")

    def counsellor(self, event: CounsellorJoined | CounsellorReply | HandBack) -> None:
        if isinstance(event, CounsellorJoined):
            if not self.s.handoff:
                self.hold()
            return
        if isinstance(event, CounsellorReply):
            if self.s.opted_out:
                self.intents.append(Refused("opted_out"))
                return
            if not self.s.handoff:
                self.hold()
            self.intents.append(Reply(event.text, kind="counsellor"))
            return
        was = self.s.handoff
        self.s.handoff = False
        self.s.misunderstood = 0
        if not was and self.s.at != HANDOFF_WAIT:
            return
        if not event.announce or self.s.opted_out:
            self.s.resume.clear()
            self.s.flow = self.s.step = None  # the next message starts at the menu (or sign-up)
            return
        self.say(self.f.step("handoff.back").say[0])
        if not self.s.onboarded and self.s.resume:
            self.go("return")  # back to the sign-up question they were at
        else:
            self.home()

    def timer(self, event: TimerFired) -> None:
        """A due timer starts the step the system flow names for its kind; the question resumes after."""
        target = self.f.flows["system"].timers.get(event.kind)
        if self.s.opted_out or target is None:
            return
        self.s.answers["timer"] = dict(event.payload)
        self.s.answers["timer_from"] = self.s.at  # where "stay" goes back to
        if self.s.at and self.f.step(self.s.at).ask:
            self.s.resume.append(self.s.at)
        self.enter(self.f.resolve(target, "system"))

    def back_from_opt_out(self, event: Event) -> None:
        """Writing again after STOP means the resident wants to talk: opt back in."""
        if isinstance(event, Message) and not event.choice:
            if understand.match_keyword(event.text, self.f.keywords) == "stop":
                return
        self.s.opted_out = False
        self.intents.append(OptIn())
        self.say_system("opted_in")
        self.reask()

    def message(self, event: Message) -> None:
        keyword = None if event.choice else understand.match_keyword(event.text, self.f.keywords)
        if keyword:
            getattr(self, f"kw_{keyword}")()
            return
        if not self.s.at:
            self.home()
            return
        if not understand.clean(event.text) and not event.choice:
            self.say_system("empty_message")
            self.reask()
            return
        self.answer(event)

    def answer(self, event: Message) -> None:
        ref = self.s.at
        assert ref is not None
        step = self.f.step(ref)
        if not step.ask:
            self.home()
            return
        if event.choice:
            button_ref, _, value = event.choice.rpartition(":")
            if button_ref != ref or value not in {c.value for c in self.choices(step)}:
                self.say_system("stale_button")
                self.reask()
                return
            parsed = understand.Parsed(value)
        else:
            parsed = self.parse(step, event.text)
        if parsed.error:
            self.misunderstood(ref, step, parsed.error)
            return
        self.s.misunderstood = 0
        self.s.back.append(ref)
        self.save(step, parsed.value)
        result = self.run_hook(step, parsed.value)
        target = None
        if result is not None:
            target = step.routes.get(str(result))
        if target is None:
            target = step.routes.get(str(parsed.value), step.routes.get("default", step.next))
        self.go(target)

    def parse(self, step: Step, text: str) -> understand.Parsed:
        ask = step.ask
        assert ask is not None
        if ask.type in ("choice", "yesno"):
            values = [c.value for c in self.choices(step)]
            yes_no = understand.parse_yes_no(text)
            if yes_no is not None and ("yes" if yes_no else "no") in values:
                return understand.Parsed("yes" if yes_no else "no")
            return understand.parse_choice(text, values, self.all_labels(step))
        if ask.type == "postcode":
            return understand.parse_postcode(text)
        if ask.type == "name":
            return understand.parse_name(text)
        if ask.type == "number":
            return understand.parse_int(text, ask.min, ask.max)
        return understand.parse_text(text)

    def all_labels(self, step: Step) -> dict[str, list[str]]:
        """Each option's words in every language, so 'yes' works for a French speaker too."""
        assert step.ask is not None
        if step.ask.type == "yesno":
            pairs = [("yes", self.f.text("yes"), []), ("no", self.f.text("no"), [])]
        else:
            pairs = [(o.value, o.label, o.synonyms) for o in step.ask.options]
        labels = {
            value: [self.e.translate(label, lang) for lang in self.e.languages] + [label, *synonyms]
            for value, label, synonyms in pairs
        }
        if step.options_from:
            labels.update({c["value"]: [c["label"]] for c in self.s.shown})
        return labels

    def misunderstood(self, ref: str, step: Step, error: str) -> None:
        """Rephrase briefly, repeat the options, and offer a person after three misses in a row."""
        self.s.misunderstood += 1
        texts = self.f.flows["system"].texts
        retry = step.retry if step.retry and error in ("not_understood", "out_of_range") else None
        retry = retry or texts.get(f"retry_{error}") or texts["retry_not_understood"]
        choices = self.choices(step)
        self.intents.append(Reply(self.t(retry, n=len(choices)), choices, question=ref))
        if self.s.misunderstood % 3 == 0:
            self.say_system("offer_counsellor")

    def save(self, step: Step, value: Any) -> None:
        if not step.save:
            return
        self.s.answers[step.save.removeprefix("profile.")] = value
        if step.save.startswith("profile."):
            if not self.s.consented:
                raise RuntimeError(f"{self.s.at}: profile data asked before consent")
            self.intents.append(SaveProfile(step.save.removeprefix("profile."), value))

    # Keywords (names from the system flow's keyword table) ----------------------------------

    def kw_stop(self) -> None:
        self.s.opted_out = True
        self.intents.append(OptOut("keyword"))
        self.say_system("stopped", kind="opt_out_confirm")

    def kw_start(self) -> None:
        if self.s.at:
            self.say_system("welcome_back")
        self.reask()

    def kw_menu(self) -> None:
        if not self.s.onboarded:
            if self.s.resume:
                self.go("return")
                return
            if self.s.at:
                self.say_system("finish_signup_first")
            self.reask()
            return
        self.home()

    def kw_help(self) -> None:
        self.say_system("help")
        self.reask()

    def kw_back(self) -> None:
        if not self.s.back:
            self.say_system("cannot_go_back")
            self.reask()
            return
        ref = self.s.back.pop()
        self.s.flow, _, self.s.step = ref.partition(".")
        text_from = self.f.step(ref).text_from
        if text_from:  # e.g. the trade card the question was about
            self.intents.append(Reply(str(self.call_hook(text_from, None))))
        self.question(ref)

    def detour(self, target: str) -> None:
        """Go somewhere and come back to the current question afterwards."""
        if not self.s.at:
            self.home()
            return
        if self.f.step(self.s.at).ask:
            self.s.resume.append(self.s.at)
        self.enter(target)

    def kw_appointments(self) -> None:
        """RDV / APPOINTMENTS: the resident's upcoming bookings (once signed up)."""
        if not self.s.onboarded:
            if self.s.at:
                self.say_system("finish_signup_first")
            self.reask()
            return
        self.s.resume.clear()
        self.enter(self.f.resolve("booking.mine", "system"))

    def kw_language(self) -> None:
        self.detour(self.f.resolve("language", "system"))

    def kw_delete(self) -> None:
        self.detour(self.f.resolve("privacy", "system"))

    def kw_counsellor(self) -> None:
        self.detour(self.f.resolve("handoff", "system"))

    def kw_trades(self) -> None:
        """Trade discovery, like a menu entry: only once signed up (interest is kept on the profile)."""
        if not self.s.onboarded:
            self.kw_menu()
            return
        self.s.resume.clear()
        self.enter(self.f.resolve("discovery", "system", flow_first=True))


def _merge(intents: list[Any]) -> list[Any]:
    """Join short consecutive messages of one turn, so a resident gets fewer, fuller SMS."""
    out: list[Any] = []
    last: int | None = None  # index in out of the last reply
    for intent in intents:
        if not isinstance(intent, Reply):
            out.append(intent)
            continue
        prev = out[last] if last is not None else None
        if (
            isinstance(prev, Reply)
            and not prev.choices
            and prev.kind == intent.kind
            and len(prev.text) + len(intent.text) + sum(len(c.label) + 3 for c in intent.choices)
            <= MERGE_LIMIT
        ):
            out[last] = Reply(f"{prev.text}\n{intent.text}", intent.choices, intent.question, intent.kind)
        else:
            out.append(intent)
            last = len(out) - 1
    return out
