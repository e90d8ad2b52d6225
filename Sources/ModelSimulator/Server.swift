public enum ModelSimulatorPlaceholder {}
