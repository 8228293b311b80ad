"""The Logs pages in real headless Chromium (Debian's chromium + chromium-driver, Selenium).

Run by scripts/test after the Swift tests, against the debug build (or $IOLOG_BINARY).
"""
import datetime
import json
import unittest
import urllib.request

from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

import iolog_browser as b

XSS = ['<script>document.title="pwned";alert(1)</script>', '<img src=x onerror="document.title=\'pwned\'">',
       '"><svg onload="document.title=\'pwned\'">']
COMPLETION_TEXT = "The capital of Australia is Canberra, not Sydney."
REASONING_TEXT = "Check the constraint first, then answer."


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LogsPages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = b.Server(b.binary())
        s = cls.server
        s.iolog("members", "set", "demo-org", "bob", "--role", "member")
        cls.member_token = s.iolog("tokens", "create", "--user", "bob")
        s.iolog("accounts", "upsert", "other-org", "--kind", "organization", "--name", "Other")
        s.iolog("members", "set", "other-org", "mallory", "--role", "admin")
        cls.outsider_token = s.iolog("tokens", "create", "--user", "mallory")
        items = []
        for i in range(12):
            model, provider = [("openai/gpt-4o", "OpenAI"), ("anthropic/claude-sonnet-4.5", "Anthropic")][i % 2]
            items.append({
                "id": "gen-%02d" % i, "account_id": "demo-org", "user_id": "user_%d" % (i % 3), "created_at": now(),
                "model": model, "provider": provider, "usage": {"prompt_tokens": 100 + i, "completion_tokens": 20},
                "cost_usd": 0.001, "latency_ms": 500 + i,
                "prompt": [{"role": "system", "content": "Answer geography questions."},
                           {"role": "user", "content": "What is the capital of Australia? (%d)" % i}],
                "completion": {"role": "assistant", "content": COMPLETION_TEXT},
            })
        items.append({
            "id": "gen-reasoning", "account_id": "demo-org", "created_at": now(), "model": "deepseek/deepseek-r1",
            "provider": "DeepInfra", "prompt": "Plain text prompt", "completion": "Plain text completion",
            "reasoning": REASONING_TEXT,
        })
        items.append({
            "id": "gen-xss", "account_id": "demo-org", "created_at": now(), "model": XSS[2], "provider": XSS[1],
            "user_id": "attacker", "finish_reason": XSS[0],
            "prompt": [{"role": "user", "content": " ".join(XSS)}, {"role": XSS[2], "content": XSS[1]}],
            "completion": {"role": "assistant", "content": XSS[0], "tool_calls": [{"function": {"name": XSS[1]}}]},
        })
        request = urllib.request.Request(
            s.base + "/v1/generations/batch", data=json.dumps({"generations": items}).encode(),
            headers={"Authorization": "Bearer " + s.gateway_token, "Content-Type": "application/json"}, method="POST")
        answer = json.load(urllib.request.urlopen(request))
        assert all(r["status"] == "stored" for r in answer["results"]), answer

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.remove()

    def setUp(self):
        self.driver = b.chromium()

    def tearDown(self):
        # No page may trip the Content-Security-Policy or log errors: that would mean inline code or styles.
        # (The 401/403/404 of the refusal pages are logged as failed loads; they are expected.)
        errors = [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"
                  and not (entry["source"] == "network" and any("status of %d" % s in entry["message"] for s in (401, 403, 404)))]
        self.driver.quit()
        self.assertEqual(errors, [])

    def url(self, path):
        return self.server.base + path

    def panel_text(self, key):
        panel = self.driver.find_element(By.ID, "panel-" + key)
        return panel.text if panel.is_displayed() else None

    def test_admin_logs_in_lists_filters_opens_and_switches_tabs(self):
        d = self.driver
        b.login(d, self.server, self.server.admin_token)
        # One account: straight to its logs.
        self.assertTrue(d.current_url.endswith("/accounts/demo-org/logs"), d.current_url)
        rows = d.find_elements(By.CSS_SELECTOR, "#logs tbody tr")
        self.assertEqual(len(rows), 14)
        d.find_element(By.ID, "filter-model").send_keys("anthropic/claude-sonnet-4.5")
        b.click_and_wait(d, d.find_element(By.ID, "apply-filters"))
        self.assertIn("model=anthropic%2Fclaude-sonnet-4.5", d.current_url)
        models = [cell.text for cell in d.find_elements(By.CSS_SELECTOR, "#logs tbody td.model")]
        self.assertEqual(models, ["anthropic/claude-sonnet-4.5"] * 6)
        # The filtered view survives a reload from its URL (shareable).
        d.get(d.current_url)
        self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, "#logs tbody tr")), 6)
        b.click_and_wait(d, d.find_elements(By.CSS_SELECTOR, "#logs tbody a.open")[0])
        self.assertRegex(d.current_url, r"/accounts/demo-org/logs/gen-\d\d")
        self.assertIn("What is the capital of Australia?", self.panel_text("prompt"))
        self.assertIsNone(self.panel_text("completion"))
        self.assertEqual(d.find_elements(By.ID, "label-reasoning"), [])
        d.find_element(By.ID, "label-completion").click()
        self.assertIsNone(self.panel_text("prompt"))
        self.assertIn(COMPLETION_TEXT, self.panel_text("completion"))
        # Back keeps the filter.
        b.click_and_wait(d, d.find_element(By.ID, "back"))
        self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, "#logs tbody tr")), 6)

    def test_reasoning_tab(self):
        d = self.driver
        b.login(d, self.server, self.server.admin_token)
        d.get(self.url("/accounts/demo-org/logs/gen-reasoning"))
        d.find_element(By.ID, "label-reasoning").click()
        self.assertEqual(self.panel_text("reasoning"), REASONING_TEXT)

    def test_toggle_logging_and_logout(self):
        d = self.driver
        b.login(d, self.server, self.server.admin_token)
        d.get(self.url("/accounts/demo-org/settings"))
        self.assertTrue(d.find_element(By.ID, "logging-state").text.startswith("On since"))
        self.assertIn("EU", d.find_element(By.TAG_NAME, "main").text)
        b.click_and_wait(d, d.find_element(By.ID, "toggle-logging"))
        self.assertTrue(d.find_element(By.ID, "logging-state").text.startswith("Off"))
        b.click_and_wait(d, d.find_element(By.ID, "toggle-logging"))
        self.assertTrue(d.find_element(By.ID, "logging-state").text.startswith("On since"))
        b.click_and_wait(d, d.find_element(By.ID, "sign-out"))
        self.assertIn("/login", d.current_url)
        d.get(self.url("/accounts/demo-org/logs"))
        self.assertIn("/login?next=", d.current_url)
        self.assertEqual(d.find_elements(By.ID, "logs"), [])

    def test_access_history_shows_reads_with_their_token(self):
        d = self.driver
        b.login(d, self.server, self.server.admin_token)
        d.get(self.url("/accounts/demo-org/logs/gen-reasoning"))
        d.get(self.url("/accounts/demo-org/settings"))
        history = d.find_element(By.ID, "access-history")
        rows = history.find_elements(By.CSS_SELECTOR, "tbody tr")
        self.assertTrue(rows)
        newest = rows[0].text
        self.assertIn("Read generation gen-reasoning", newest)
        self.assertIn("made by cli:serve --dev", newest)
        self.assertIn("demo-admin became an admin", history.text)

    def test_member_sees_only_admins_page(self):
        d = self.driver
        b.login(d, self.server, self.member_token)
        self.assertIn("Only admins can view logs", d.find_element(By.TAG_NAME, "main").text)
        d.get(self.url("/accounts/demo-org/logs"))
        self.assertEqual(d.find_element(By.ID, "error-title").text, "Only admins can view logs")
        d.get(self.url("/accounts/demo-org/logs/gen-01"))
        self.assertEqual(d.find_element(By.ID, "error-title").text, "Only admins can view logs")
        self.assertNotIn(COMPLETION_TEXT, d.page_source)

    def test_outsider_sees_the_same_not_found_as_for_no_account(self):
        d = self.driver
        b.login(d, self.server, self.outsider_token)
        d.get(self.url("/accounts/demo-org/logs/gen-01"))
        existing = d.find_element(By.TAG_NAME, "main").text
        d.get(self.url("/accounts/no-such-org/logs/gen-01"))
        self.assertEqual(d.find_element(By.TAG_NAME, "main").text, existing)
        self.assertEqual(d.find_element(By.ID, "error-title").text, "Not found")
        self.assertNotIn(COMPLETION_TEXT, d.page_source)

    def test_revoking_the_token_ends_its_sessions(self):
        d = self.driver
        token = self.server.iolog("tokens", "create", "--user", "demo-admin")
        b.login(d, self.server, token)
        self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, "#logs tbody tr")), 14)
        self.server.iolog("tokens", "revoke", token.split("_")[1])
        d.get(self.url("/accounts/demo-org/logs"))
        self.assertIn("/login?next=", d.current_url)

    def test_session_cookie_is_http_only_and_same_site_strict(self):
        d = self.driver
        b.login(d, self.server, self.server.admin_token)
        cookie = d.get_cookie("iolog_session")
        self.assertTrue(cookie["httpOnly"])
        self.assertEqual(cookie["sameSite"], "Strict")
        self.assertIsNone(d.execute_script("return document.cookie.match(/iolog_session/)"))

    def test_hostile_content_renders_as_text_and_runs_nothing(self):
        d = self.driver
        b.login(d, self.server, self.server.admin_token)
        for path in ("/accounts/demo-org/logs", "/accounts/demo-org/logs/gen-xss"):
            d.get(self.url(path))
            self.assertNotEqual(d.title, "pwned")
            with self.assertRaises(NoAlertPresentException):
                d.switch_to.alert.text
            self.assertEqual(d.find_elements(By.CSS_SELECTOR, "main script, main svg, main img"), [])
        main = d.find_element(By.TAG_NAME, "main").text
        for payload in XSS:
            self.assertIn(payload, main)
        d.find_element(By.ID, "label-completion").click()
        self.assertIn(XSS[0], self.panel_text("completion"))
        self.assertNotEqual(d.title, "pwned")

    def test_pages_send_security_headers(self):
        response = urllib.request.urlopen(self.url("/login"))
        csp = response.headers["Content-Security-Policy"]
        self.assertIn("default-src 'none'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertEqual(response.headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(response.headers["Referrer-Policy"], "same-origin")
        self.assertEqual(response.headers["Cache-Control"], "no-store")


if __name__ == "__main__":
    unittest.main()
