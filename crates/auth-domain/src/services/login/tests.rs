//! Unit tests of the login use cases, with every port mocked.
