# Runs just before the greeter starts; what it exports reaches the component's environment.
export GREETING="Bonjour"
