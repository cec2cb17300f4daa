# frozen_string_literal: true

module Vpsos
  VERSION = "0.1.0"
end
