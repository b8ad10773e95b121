"""The plan tests' helper modules assert too: pytest rewrites their asserts as it does a test
module's, so a failing helper still shows the values it compared."""

import pytest

pytest.register_assert_rewrite("plans.tests.plan_api_helpers", "plans.tests.plan_services_helpers")
