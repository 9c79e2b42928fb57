//! Unit tests of the profile use cases, with every port mocked.
