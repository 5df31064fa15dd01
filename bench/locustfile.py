"""Simulated developers and reviewers for bench/load.py (Locust; run by it, not by hand).

Each simulated person is logged in as their own account (dev, dev1, ... and rev, rev1, ...: bench/load.py
hands over a session cookie for each) and waits 1-3 s between actions:
- developers open their open fix session (prepared by bench/load.py), autosave code, record fix steps and
  look at the queue and samples;
- reviewers take the next blind pair and vote, score the next translation, and reload what they see.
A GET right after the same person changed something is named "(cold)", a repeat GET "(warm)", so the two are
measured apart. Sandbox runs are not in the mix (bench/sandbox_latency.py measures them).
"""

from __future__ import annotations

import itertools
import json
import os
import re

from locust import HttpUser, between, task

PEOPLE = json.loads(os.environ["T2J_LOAD_PEOPLE"])  # {"developers": [{username, cookie, session}], "reviewers": [...]}
VERSION = re.compile(r'id="version" value="(\d+)"')
PAIR = re.compile(r'name="pair" value="([^"]+)"')
ITEM = re.compile(r'name="item" value="([^"]+)"')
_developers = itertools.count()
_reviewers = itertools.count()


class Person(HttpUser):
    abstract = True
    wait_time = between(1, 3)

    def log_in(self, person: dict) -> None:
        self.client.cookies.set("sessionid", person["cookie"])

    def csrf(self) -> str:
        return self.client.cookies.get("csrftoken", "")

    def post(self, url: str, data: dict, name: str, **kwargs):
        """A POST measured alone: its redirect is not followed (the GET after it is measured as cold)."""
        headers = {"X-CSRFToken": self.csrf(), **kwargs.pop("headers", {})}
        return self.client.post(url, data, headers=headers, name=name, allow_redirects=False, **kwargs)


class Developer(Person):
    weight = 3  # 12 of 20

    def on_start(self) -> None:
        person = PEOPLE["developers"][next(_developers) % len(PEOPLE["developers"])]
        self.log_in(person)
        self.session_url = f"/work/sessions/{person['session']}/"
        self.version = int(VERSION.search(self.client.get(self.session_url, name="GET workspace (cold)").text)[1])
        self.edits = 0

    @task(4)
    def look_at_the_workspace(self) -> None:
        self.client.get(self.session_url, name="GET workspace (warm)")

    @task(3)
    def autosave(self) -> None:
        self.edits += 1
        code = f"import jax\nimport jax.numpy as jnp\n\nx = jnp.arange({self.edits})\nprint(x.sum())\n"
        with self.post(self.session_url + "save/", {"code": code, "version": self.version}, "POST save",
                       headers={"Accept": "application/json"}, catch_response=True) as response:  # fmt: skip
            if response.status_code == 200:
                self.version = response.json()["version"]
            else:
                response.failure(f"save answered {response.status_code}")
        self.client.get(self.session_url, name="GET workspace (cold)")

    @task(2)
    def record_a_step(self) -> None:
        step = {
            "error": "AttributeError: module 'jax.numpy' has no attribute 'random'",
            "error_code": "x = jnp.random.normal(size=(3,))",
            "fixed_code": "x = jax.random.normal(key, (3,))",
            "fix_info": "Use jax.random with an explicit PRNG key.",
            "category": "prng",
        }
        self.post(self.session_url + "steps/", step, "POST step")  # redirects to the workspace: a cold GET
        self.version = int(VERSION.search(self.client.get(self.session_url, name="GET workspace (cold)").text)[1])

    @task(2)
    def browse(self) -> None:
        self.client.get("/work/", name="GET queue")
        self.client.get("/samples/", name="GET samples")

    @task(1)
    def home(self) -> None:
        self.client.get("/", name="GET home")


class Reviewer(Person):
    weight = 2  # 8 of 20

    def on_start(self) -> None:
        self.log_in(PEOPLE["reviewers"][next(_reviewers) % len(PEOPLE["reviewers"])])
        self.pair = ""

    @task(3)
    def compare_a_pair(self) -> None:
        page = self.client.get("/evaluate/review/", name="GET review (cold)").text
        found = PAIR.search(page)
        if not found:
            return  # nothing left to compare for this reviewer
        self.pair = found[1]
        self.post("/evaluate/review/vote/", {"pair": self.pair, "verdict": "left", "reason": "keeps the key"},
                  "POST vote")  # fmt: skip

    @task(2)
    def look_at_a_pair_again(self) -> None:
        if self.pair:
            self.client.get(f"/evaluate/review/?pair={self.pair}", name="GET review (warm)")

    @task(2)
    def score_a_translation(self) -> None:
        page = self.client.get("/evaluate/score/", name="GET score (cold)").text
        found = ITEM.search(page)
        if found:
            scores = {"item": found[1], "usefulness": "3", "functional-correctness": "2"}
            self.post("/evaluate/score/submit/", scores, "POST scores")

    @task(1)
    def home(self) -> None:
        self.client.get("/", name="GET home")
