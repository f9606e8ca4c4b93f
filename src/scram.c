/* scram: being written */
