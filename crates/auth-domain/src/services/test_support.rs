//! Builders for the use-case tests: mocks of every port, a fixed clock, sample users.
