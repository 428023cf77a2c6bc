"""What Picasso's agents and edge share: settings, logging and clients for the stores."""
