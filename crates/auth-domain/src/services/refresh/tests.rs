//! Unit tests of the refresh use cases, with every port mocked.
